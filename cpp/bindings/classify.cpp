// fastinfer._core: the classify functions (argument checks, GIL release, registration).
#include <optional>

#include <pybind11/stl.h>

#include "common.hpp"
#include "fastinfer/classify.hpp"

namespace fastinfer::bindings {

namespace {

py::tuple classify_py(const py::array& scores_obj, int top_k, std::optional<bool> apply_softmax) {
  auto scores = float_array(scores_obj, "scores");
  if (scores.ndim() != 2 || scores.shape(0) == 0 || scores.shape(1) == 0) {
    throw InvalidInputError("scores must have shape (N, classes) with N, classes >= 1, got " + shape_of(scores));
  }
  const Softmax mode = !apply_softmax ? Softmax::kAuto : *apply_softmax ? Softmax::kApply : Softmax::kSkip;
  TopClasses top;
  {
    py::gil_scoped_release release;
    top = top_classes(scores.data(), static_cast<size_t>(scores.shape(0)), static_cast<size_t>(scores.shape(1)),
                      top_k, mode);
  }
  const std::vector<py::ssize_t> shape = {static_cast<py::ssize_t>(top.images), static_cast<py::ssize_t>(top.k)};
  return py::make_tuple(to_numpy(std::move(top.class_id), shape), to_numpy(std::move(top.confidence), shape),
                        top.softmax_applied);
}

}  // namespace

void bind_classify(py::module_& m) {
  m.def("classify", &classify_py, py::arg("scores"), py::arg("top_k") = 5, py::arg("softmax") = py::none(),
        "(N, classes) float32 scores -> (class_id (N, k) int64, confidence (N, k) float32, softmax_applied), "
        "k = min(top_k, classes), best first, ties to the lower class id. softmax: None applies it unless every "
        "row already is a distribution (>= 0, sums to 1 within 1e-3); True or False forces it.");
}

}  // namespace fastinfer::bindings
