// fastinfer._core: registration only. Each area binds its own functions
// (errors.cpp, images.cpp, detect.cpp, darknet.cpp, backends.cpp, classify.cpp,
// segment.cpp, ssd.cpp, video.cpp); argument checks live there, algorithms in
// the core.
#include <opencv2/core.hpp>
#include <pybind11/pybind11.h>

#include "common.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  using namespace fastinfer::bindings;
  m.doc() = "fastinfer's native core (private: use the fastinfer package).";
  bind_errors(m);  // first: the other registrations' errors translate to these classes
  bind_images(m);
  bind_detect(m);
  bind_darknet(m);
  bind_backends(m);
  bind_classify(m);
  bind_segment(m);
  bind_ssd(m);
  bind_video(m);
  m.attr("opencv_version") = CV_VERSION;
  m.attr("__version__") = FASTINFER_VERSION;  // the project version this core was built as (CMake)
}
