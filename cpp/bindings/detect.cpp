// fastinfer._core: YOLO decoding and NMS (argument checks, GIL release, registration).
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastinfer/decode_heads.hpp"
#include "fastinfer/decode_yolo.hpp"
#include "fastinfer/errors.hpp"
#include "fastinfer/nms.hpp"
#include "common.hpp"
#include "numpy_views.hpp"

namespace fastinfer::bindings {

namespace {

py::list postprocess_darknet_py(const std::vector<py::array>& outputs, const py::array& transforms_obj,
                                std::pair<int, int> input_size, float conf, float iou, bool class_agnostic,
                                int max_det, bool objectness_gate, bool multi_label, const std::vector<int>& classes) {
  const NmsParams params = nms_params(conf, iou, class_agnostic, max_det, classes);
  py::array_t<double, py::array::c_style | py::array::forcecast> transforms(transforms_obj);
  if (transforms.ndim() != 2 || transforms.shape(1) != 6) {
    throw InvalidInputError("transforms must have shape (N, 6), got " + shape_of(transforms));
  }
  const size_t batch = static_cast<size_t>(transforms.shape(0));
  if (outputs.empty()) throw InvalidInputError("outputs is empty");
  std::vector<py::array_t<float, py::array::c_style>> arrays;
  size_t row_length = 0;
  std::vector<size_t> rows_per_image;
  for (size_t i = 0; i < outputs.size(); ++i) {
    auto a = float_array(outputs[i], "outputs[" + std::to_string(i) + "]");
    if (a.ndim() != 2 && a.ndim() != 3) {
      throw InvalidInputError("outputs[" + std::to_string(i) + "] must be (rows, 5+classes) or (batch, rows, 5+classes), got " + shape_of(a));
    }
    const size_t length = static_cast<size_t>(a.shape(a.ndim() - 1));
    if (row_length && length != row_length) {
      throw InvalidInputError("outputs disagree on the row length: " + std::to_string(row_length) + " and " +
                              std::to_string(length));
    }
    row_length = length;
    const size_t total_rows = static_cast<size_t>(a.size()) / std::max<size_t>(length, 1);
    if (batch == 0 || total_rows % batch != 0 || (a.ndim() == 3 && static_cast<size_t>(a.shape(0)) != batch)) {
      throw InvalidInputError("outputs[" + std::to_string(i) + "] of shape " + shape_of(a) + " does not split into " +
                              std::to_string(batch) + " images");
    }
    rows_per_image.push_back(total_rows / batch);
    arrays.push_back(a);
  }
  std::vector<Transform> per_image;
  for (size_t b = 0; b < batch; ++b) per_image.push_back(transform_from_row(transforms.data(b, 0)));
  std::vector<DetectionArrays> results(batch);
  {
    py::gil_scoped_release release;
    for (size_t b = 0; b < batch; ++b) {
      std::vector<RowBlock> blocks;
      for (size_t i = 0; i < arrays.size(); ++i) {
        blocks.push_back(RowBlock{arrays[i].data() + b * rows_per_image[i] * row_length, rows_per_image[i]});
      }
      results[b] = postprocess_darknet(blocks, row_length, input_size.first, input_size.second, per_image[b], params,
                                       objectness_gate, multi_label);
    }
  }
  py::list out;
  for (DetectionArrays& d : results) out.append(detection_tuple(std::move(d)));
  return out;
}

py::list postprocess_head_py(const py::object& output_obj, const py::array& transforms_obj,
                             std::pair<int, int> input_size, const std::string& head, float conf, float iou,
                             bool class_agnostic, int max_det, const std::vector<int>& strides, bool multi_label,
                             const std::vector<int>& classes) {
  const NmsParams nms = nms_params(conf, iou, class_agnostic, max_det, classes);
  HeadParams params;
  params.head = parse_head(head);
  params.net_width = input_size.first;
  params.net_height = input_size.second;
  params.strides = strides;
  params.multi_label = multi_label;
  params.validate();
  py::array_t<double, py::array::c_style | py::array::forcecast> transforms(transforms_obj);
  if (transforms.ndim() != 2 || transforms.shape(1) != 6 || transforms.shape(0) == 0) {
    throw InvalidInputError("transforms must have shape (N, 6) with N >= 1, got " + shape_of(transforms));
  }
  const size_t batch = static_cast<size_t>(transforms.shape(0));
  auto output = float_array(output_obj, "output");
  const bool channel_major = params.head == Head::kYolov8;
  const char* layout = channel_major ? "(batch, 4+classes, anchors)" : "(batch, rows, 5+classes)";
  if (output.ndim() != 2 && output.ndim() != 3) {
    throw InvalidInputError(std::string("output must be ") + layout + " (or 2-D for one image), got " +
                            shape_of(output));
  }
  const size_t images = output.ndim() == 3 ? static_cast<size_t>(output.shape(0)) : 1;
  if (images != batch) {
    throw InvalidInputError("output of shape " + shape_of(output) + " holds " + std::to_string(images) +
                            " image(s) but transforms has " + std::to_string(batch) + " rows");
  }
  const size_t d1 = static_cast<size_t>(output.shape(output.ndim() - 2));
  const size_t d2 = static_cast<size_t>(output.shape(output.ndim() - 1));
  HeadOutput one;
  one.anchors = channel_major ? d2 : d1;
  one.channels = channel_major ? d1 : d2;
  std::vector<Transform> per_image;
  for (size_t b = 0; b < batch; ++b) per_image.push_back(transform_from_row(transforms.data(b, 0)));
  std::vector<DetectionArrays> results(batch);
  {
    py::gil_scoped_release release;
    for (size_t b = 0; b < batch; ++b) {
      HeadOutput image = one;
      image.data = output.data() + b * d1 * d2;
      results[b] = postprocess_head(image, params, per_image[b], nms);
    }
  }
  py::list out;
  for (DetectionArrays& d : results) out.append(detection_tuple(std::move(d)));
  return out;
}

py::array_t<int64_t> nms_py(const py::object& boxes_obj, const py::object& scores_obj, const py::object& class_ids_obj,
                            float conf, float iou, bool class_agnostic, int max_det,
                            const std::vector<int>& classes) {
  const NmsParams params = nms_params(conf, iou, class_agnostic, max_det, classes);
  py::array_t<float, py::array::c_style | py::array::forcecast> boxes(boxes_obj);
  py::array_t<float, py::array::c_style | py::array::forcecast> scores(scores_obj);
  if (boxes.ndim() != 2 || scores.ndim() != 1 || boxes.shape(1) != 4 || boxes.shape(0) != scores.shape(0)) {
    throw InvalidInputError("boxes must be (N, 4) and scores (N,), got " + shape_of(boxes) + " and " + shape_of(scores));
  }
  const size_t n = static_cast<size_t>(scores.shape(0));
  std::vector<int> ids;
  if (!class_ids_obj.is_none()) {
    py::array_t<int64_t, py::array::c_style | py::array::forcecast> c(class_ids_obj);
    if (c.ndim() != 1 || static_cast<size_t>(c.shape(0)) != n) {
      throw InvalidInputError("class_ids must be (N,) like scores, got " + shape_of(c));
    }
    ids.assign(c.data(), c.data() + n);
  } else if (!classes.empty()) {
    throw InvalidInputError("classes= needs class_ids");
  }
  std::vector<int> keep;
  {
    py::gil_scoped_release release;
    keep = nms(boxes.data(), scores.data(), ids.empty() ? nullptr : ids.data(), n, params);
  }
  std::vector<int64_t> out(keep.begin(), keep.end());
  const py::ssize_t k = static_cast<py::ssize_t>(out.size());
  return to_numpy(std::move(out), {k});
}

}  // namespace

void bind_detect(py::module_& m) {
  m.def("postprocess_darknet", &postprocess_darknet_py, py::arg("outputs"), py::arg("transforms"),
        py::arg("input_size"), py::arg("conf") = 0.25f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false,
        py::arg("max_det") = 0, py::kw_only(), py::arg("objectness_gate") = false, py::arg("multi_label") = false,
        py::arg("classes") = std::vector<int>{},
        "Darknet rows -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. "
        "objectness_gate: also skip rows whose objectness is not above conf (Darknet's rule; exact and much faster "
        "for rows whose class scores are objectness x probability, as OpenCV's Darknet layers and converted "
        "models emit them). multi_label: every class above conf is a detection of its own (Darknet's detector, "
        "YOLOv5's multi_label), then NMS per class; otherwise each row's best class. classes: keep only these "
        "class ids, dropped before NMS and max_det (empty: all).");
  m.def("postprocess_head", &postprocess_head_py, py::arg("output"), py::arg("transforms"), py::arg("input_size"),
        py::arg("head"), py::arg("conf") = 0.25f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false,
        py::arg("max_det") = 0, py::arg("strides") = std::vector<int>{8, 16, 32}, py::kw_only(),
        py::arg("multi_label") = false, py::arg("classes") = std::vector<int>{},
        "A YOLO head's output -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. "
        "head: 'yolov5' ((B, N, 5+C) pixel rows), 'yolov8'/'yolo11' ((B, 4+C, N)), 'yolox' ((B, N, 5+C) "
        "grid-relative rows over `strides`) or 'darknet' ((B, N, 5+C) normalised rows); 2-D for one image. "
        "multi_label: every class above conf is a detection of its own (YOLOv5's multi_label); otherwise the best. "
        "classes: keep only these class ids, dropped before NMS and max_det (empty: all).");
  m.def("nms", &nms_py, py::arg("boxes"), py::arg("scores"), py::arg("class_ids") = py::none(),
        py::arg("conf") = 0.0f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false, py::arg("max_det") = 0,
        py::kw_only(), py::arg("classes") = std::vector<int>{},
        "Indices kept by NMS (cv::dnn::NMSBoxes semantics), highest score first; classes: keep only these class "
        "ids (empty: all).");
}

}  // namespace fastinfer::bindings
