// Numpy <-> core conversions: dtype/rank/contiguity checks in one place,
// zero-copy views of inputs and owning arrays for outputs.
#pragma once

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <opencv2/core.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fastinfer/errors.hpp"

namespace fastinfer::bindings {

namespace py = pybind11;

inline std::string shape_of(const py::array& a) {
  std::string s = "(";
  for (py::ssize_t d = 0; d < a.ndim(); ++d) {
    s += std::to_string(a.shape(d));
    if (d + 1 < a.ndim() || a.ndim() == 1) s += ",";
    if (d + 1 < a.ndim()) s += " ";
  }
  return s + ")";
}

inline std::string dtype_of(const py::array& a) { return py::str(a.dtype()).cast<std::string>(); }

// A cv::Mat header over a C-contiguous HxW, HxWx1, HxWx3 or HxWx4 uint8 array
// (no copy). The array must outlive the Mat.
inline cv::Mat image_view(const py::array& a, const std::string& what) {
  if (a.dtype().kind() != 'u' || a.itemsize() != 1) {
    throw InvalidInputError(what + " must be a uint8 image, got dtype " + dtype_of(a) + " with shape " + shape_of(a));
  }
  if (a.ndim() != 2 && a.ndim() != 3) {
    throw InvalidInputError(what + " must be HxW or HxWxC, got shape " + shape_of(a));
  }
  const int channels = a.ndim() == 2 ? 1 : static_cast<int>(a.shape(2));
  if (channels != 1 && channels != 3 && channels != 4) {
    throw InvalidInputError(what + " must have 1, 3 or 4 channels, got shape " + shape_of(a));
  }
  if (a.shape(0) == 0 || a.shape(1) == 0) throw InvalidInputError(what + " is empty, shape " + shape_of(a));
  if (!(a.flags() & py::array::c_style)) {
    throw InvalidInputError(what + " must be C-contiguous (use numpy.ascontiguousarray)");
  }
  // OpenCV indexes rows and row bytes with int, and images become 3-channel BGR.
  constexpr py::ssize_t kMax = 2147483647;
  if (a.shape(0) > kMax || a.shape(1) > kMax / 4) {
    throw InvalidInputError(what + " is too large: shape " + shape_of(a) + "; images may have at most " +
                            std::to_string(kMax) + " rows and " + std::to_string(kMax / 4) + " columns");
  }
  return cv::Mat(static_cast<int>(a.shape(0)), static_cast<int>(a.shape(1)), CV_8UC(channels),
                 const_cast<void*>(a.data()));
}

// A float32 array of the given rank, C-contiguous.
inline py::array_t<float, py::array::c_style> float_array(const py::handle& obj, const std::string& what,
                                                          int ndim = -1) {
  py::array a = py::array::ensure(obj);
  if (!a) throw InvalidInputError(what + " must be a numpy array");
  if (a.dtype().kind() != 'f' || a.itemsize() != 4) {
    throw InvalidInputError(what + " must be float32, got dtype " + dtype_of(a));
  }
  if (!(a.flags() & py::array::c_style)) throw InvalidInputError(what + " must be C-contiguous");
  if (ndim >= 0 && a.ndim() != ndim) {
    throw InvalidInputError(what + " must have " + std::to_string(ndim) + " dimensions, got shape " + shape_of(a));
  }
  return py::array_t<float, py::array::c_style>(a);
}

// Moves a vector into a numpy array that owns it (no copy).
template <typename T>
py::array_t<T> to_numpy(std::vector<T>&& values, std::vector<py::ssize_t> shape) {
  auto* owned = new std::vector<T>(std::move(values));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::vector<T>*>(p); });
  return py::array_t<T>(shape, owned->data(), free_when_done);
}

// Hands shared float data (a backend's output) to numpy without a copy.
inline py::array_t<float> shared_to_numpy(std::shared_ptr<const float> data, const std::vector<int64_t>& dims) {
  auto* owned = new std::shared_ptr<const float>(std::move(data));
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<std::shared_ptr<const float>*>(p); });
  std::vector<py::ssize_t> shape(dims.begin(), dims.end());
  return py::array_t<float>(shape, owned->get(), free_when_done);
}

// Copies a BGR cv::Mat into a new HxWx3 uint8 array.
inline py::array_t<uint8_t> image_to_numpy(const cv::Mat& image) {
  cv::Mat continuous = image.isContinuous() ? image : image.clone();
  auto* owned = new cv::Mat(continuous);
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<cv::Mat*>(p); });
  std::vector<py::ssize_t> shape = {image.rows, image.cols};
  if (image.channels() > 1) shape.push_back(image.channels());
  return py::array_t<uint8_t>(shape, owned->ptr<uint8_t>(), free_when_done);
}

}  // namespace fastinfer::bindings
