// fastinfer._core: video files and cameras (argument checks, GIL release, registration).
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <pybind11/stl.h>

#include "common.hpp"
#include "fastinfer/video_io.hpp"

namespace fastinfer::bindings {

namespace {

template <typename T, typename... Args>
std::unique_ptr<T> open_released(Args&&... args) {
  py::gil_scoped_release release;
  return std::make_unique<T>(std::forward<Args>(args)...);
}

}  // namespace

void bind_video(py::module_& m) {
  py::class_<VideoReader>(m, "VideoReader",
                          "Frames of a video file or camera as BGR uint8 arrays (OpenCV videoio; the GIL is "
                          "released while opening and decoding).")
      .def(py::init([](const std::string& path) { return open_released<VideoReader>(path); }), py::arg("path"),
           "Opens a video file.")
      .def(py::init([](int camera) { return open_released<VideoReader>(camera); }), py::arg("camera"),
           "Opens a camera by index.")
      .def(
          "read",
          [](VideoReader& self) -> std::optional<py::array_t<uint8_t>> {
            cv::Mat frame;
            bool ok;
            {
              py::gil_scoped_release release;
              ok = self.read(frame);
            }
            if (!ok) return std::nullopt;
            return image_to_numpy(frame);
          },
          "The next frame (HxWx3 uint8, BGR), or None at the end.")
      .def(
          "close",
          [](VideoReader& self) {
            py::gil_scoped_release release;
            self.release();
          },
          "Closes the file or camera; read() then returns None.")
      .def("__enter__", [](VideoReader& self) -> VideoReader& { return self; }, py::return_value_policy::reference)
      .def("__exit__", [](VideoReader& self, const py::args&) {
        py::gil_scoped_release release;
        self.release();
      })
      .def_property_readonly("name", &VideoReader::name, "How messages name the source: \"'clip.mp4'\" or "
                             "\"camera 0\".")
      .def_property_readonly("fps", &VideoReader::fps, "Frames per second (0 when the source does not say).")
      .def_property_readonly("width", &VideoReader::width)
      .def_property_readonly("height", &VideoReader::height)
      .def_property_readonly("frame_count", &VideoReader::frame_count, "Number of frames (-1 when unknown).")
      .def_property_readonly("backend", &VideoReader::backend, "The videoio backend, e.g. 'FFMPEG'.");

  py::class_<VideoWriter>(m, "VideoWriter", "Writes BGR uint8 frames of one size to a video file (OpenCV videoio).")
      .def(py::init([](const std::string& path, double fps, std::pair<int, int> size, const std::string& fourcc) {
             return open_released<VideoWriter>(path, fps, size.first, size.second, fourcc);
           }),
           py::arg("path"), py::arg("fps"), py::arg("size"), py::arg("fourcc") = "",
           "size: (width, height). fourcc: e.g. 'mp4v' or 'MJPG'; empty: MJPG for .avi, mp4v otherwise.")
      .def(
          "write",
          [](VideoWriter& self, const py::array& image) {
            cv::Mat view = image_view(image, "frame");
            py::gil_scoped_release release;
            self.write(view.channels() == 3 ? view : to_bgr(view));
          },
          py::arg("image"), "Appends one frame (HxWx3 BGR, or grayscale/BGRA, uint8) of the writer's size.")
      .def(
          "close",
          [](VideoWriter& self) {
            py::gil_scoped_release release;
            self.release();
          },
          "Finishes the file.")
      .def("__enter__", [](VideoWriter& self) -> VideoWriter& { return self; }, py::return_value_policy::reference)
      .def("__exit__", [](VideoWriter& self, const py::args&) {
        py::gil_scoped_release release;
        self.release();
      })
      .def_property_readonly("path", &VideoWriter::path)
      .def_property_readonly("fourcc", &VideoWriter::fourcc)
      .def_property_readonly("frames_written", &VideoWriter::frames_written);
}

}  // namespace fastinfer::bindings
