// Conversions shared by the binding files: image lists, transforms records,
// detection tuples and NMS parameters. Argument checks only; no algorithms.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include "fastinfer/decode_yolo.hpp"
#include "fastinfer/errors.hpp"
#include "fastinfer/nms.hpp"
#include "fastinfer/preprocess.hpp"
#include "numpy_views.hpp"

namespace fastinfer::bindings {

namespace py = pybind11;

// Images given as one array or a list of arrays, as BGR views (converted
// copies only for grayscale/BGRA). `keep` holds the numpy objects alive.
inline std::vector<cv::Mat> bgr_images(const py::object& images, std::vector<py::array>& keep) {
  std::vector<py::object> items;
  if (py::isinstance<py::array>(images)) {
    items.push_back(images);
  } else if (py::isinstance<py::list>(images) || py::isinstance<py::tuple>(images)) {
    for (py::handle h : images) items.push_back(py::reinterpret_borrow<py::object>(h));
  } else {
    throw InvalidInputError("images must be a numpy array or a list of them, got " +
                            py::str(py::type::of(images)).cast<std::string>());
  }
  if (items.empty()) throw InvalidInputError("images is an empty list");
  std::vector<cv::Mat> mats;
  for (size_t i = 0; i < items.size(); ++i) {
    if (!py::isinstance<py::array>(items[i])) {
      throw InvalidInputError("images[" + std::to_string(i) + "] must be a numpy array, got " +
                              py::str(py::type::of(items[i])).cast<std::string>());
    }
    keep.push_back(items[i].cast<py::array>());
    mats.push_back(image_view(keep.back(), "images[" + std::to_string(i) + "]"));
  }
  return mats;
}

// fastinfer.ImageWarning (registered by bind_errors).
PyObject* image_warning();

inline std::array<double, 3> triple(const std::vector<double>& v, const char* what) {
  if (v.size() == 1) return {v[0], v[0], v[0]};
  if (v.size() != 3) {
    throw InvalidInputError(std::string(what) + " must have 1 or 3 values, got " + std::to_string(v.size()));
  }
  return {v[0], v[1], v[2]};
}

inline Transform transform_from_row(const double* r) {
  Transform t;
  t.scale_x = static_cast<float>(r[0]);
  t.scale_y = static_cast<float>(r[1]);
  t.pad_x = static_cast<float>(r[2]);
  t.pad_y = static_cast<float>(r[3]);
  t.image_width = static_cast<int>(r[4]);
  t.image_height = static_cast<int>(r[5]);
  if (!(t.scale_x > 0 && t.scale_y > 0) || t.image_width <= 0 || t.image_height <= 0) {
    throw InvalidInputError("transforms rows must hold positive scales and image sizes");
  }
  return t;
}

inline py::tuple detection_tuple(DetectionArrays&& d) {
  const py::ssize_t n = static_cast<py::ssize_t>(d.size());
  std::vector<int64_t> ids(d.class_id.begin(), d.class_id.end());
  return py::make_tuple(to_numpy(std::move(d.xyxy), {n, 4}), to_numpy(std::move(d.confidence), {n}),
                        to_numpy(std::move(ids), {n}));
}

inline NmsParams nms_params(float conf, float iou, bool class_agnostic, int max_det,
                            const std::vector<int>& classes = {}) {
  NmsParams p;
  p.classes = classes;
  p.score_threshold = conf;
  p.iou_threshold = iou;
  p.class_agnostic = class_agnostic;
  p.max_detections = max_det;
  p.validate();
  return p;
}

// The (N, 6) transforms record that make_blob returns, one Transform per row.
inline std::vector<Transform> transforms_from(const py::object& obj, const std::string& what = "transforms") {
  py::array_t<double, py::array::c_style | py::array::forcecast> rows(obj);
  if (rows.ndim() != 2 || rows.shape(1) != 6 || rows.shape(0) == 0) {
    throw InvalidInputError(what + " must have shape (N, 6) with N >= 1, got " + shape_of(rows));
  }
  std::vector<Transform> out;
  for (py::ssize_t b = 0; b < rows.shape(0); ++b) out.push_back(transform_from_row(rows.data(b, 0)));
  return out;
}

// Registration of each area's functions (one file each under cpp/bindings/).
void bind_errors(py::module_& m);
void bind_images(py::module_& m);
void bind_detect(py::module_& m);
void bind_darknet(py::module_& m);
void bind_backends(py::module_& m);
void bind_classify(py::module_& m);
void bind_segment(py::module_& m);
void bind_ssd(py::module_& m);
void bind_video(py::module_& m);

}  // namespace fastinfer::bindings
