// fastinfer._core: argument conversion, GIL release, exception translation
// and registration. No algorithms live here.
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include <opencv2/core.hpp>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastinfer/backends/onnxruntime.hpp"
#include "fastinfer/backends/opencv_dnn.hpp"
#include "fastinfer/darknet_cfg.hpp"
#include "fastinfer/decode_heads.hpp"
#include "fastinfer/decode_yolo.hpp"
#include "fastinfer/draw.hpp"
#include "fastinfer/errors.hpp"
#include "fastinfer/image_io.hpp"
#include "fastinfer/nms.hpp"
#include "fastinfer/preprocess.hpp"
#include "common.hpp"
#include "numpy_views.hpp"

namespace py = pybind11;
using namespace fastinfer;
using namespace fastinfer::bindings;
using fastinfer::bindings::float_array;
using fastinfer::bindings::image_to_numpy;
using fastinfer::bindings::image_view;
using fastinfer::bindings::shared_to_numpy;
using fastinfer::bindings::shape_of;
using fastinfer::bindings::to_numpy;

namespace {

PyObject* g_base_error = nullptr;
PyObject* g_model_load_error = nullptr;
PyObject* g_invalid_input_error = nullptr;
PyObject* g_backend_error = nullptr;
PyObject* g_backend_unavailable_error = nullptr;
PyObject* g_image_warning = nullptr;

PyObject* new_exception(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  // Public under the package's name: fastinfer re-exports these classes.
  const std::string qualified = std::string("fastinfer.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (!type) throw py::error_already_set();
  m.add_object(name, py::handle(type));  // the module keeps a reference
  return type;
}

// Messages may quote text from a damaged file (names, a runtime's errors): invalid UTF-8 is replaced, so the
// error arrives as itself rather than as a UnicodeDecodeError.
void set_error(PyObject* type, const char* what) {
  PyObject* message = PyUnicode_DecodeUTF8(what, static_cast<Py_ssize_t>(std::strlen(what)), "replace");
  if (!message) return;  // MemoryError is set
  PyErr_SetObject(type, message);
  Py_DECREF(message);
}

void register_exceptions(py::module_& m) {
  g_base_error = new_exception(m, "FastInferError", PyExc_Exception, "Base class of every fastinfer error.");
  g_model_load_error = new_exception(m, "ModelLoadError", g_base_error,
                                     "A model, cfg, weights or labels file cannot be used.");
  py::tuple invalid_bases = py::make_tuple(py::handle(g_base_error), py::handle(PyExc_ValueError));
  g_invalid_input_error = new_exception(m, "InvalidInputError", invalid_bases.ptr(),
                                        "An argument or input is not what the call needs.");
  g_backend_error = new_exception(m, "BackendError", g_base_error, "An inference backend failed.");
  g_backend_unavailable_error = new_exception(m, "BackendUnavailableError", g_base_error,
                                              "A backend or execution provider is not installed or too old.");
  g_image_warning = new_exception(m, "ImageWarning", PyExc_UserWarning,
                                  "An image file was read but is damaged (for example truncated).");
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const InvalidInputError& e) {
      set_error(g_invalid_input_error, e.what());
    } catch (const ModelLoadError& e) {
      set_error(g_model_load_error, e.what());
    } catch (const BackendError& e) {
      set_error(g_backend_error, e.what());
    } catch (const BackendUnavailableError& e) {
      set_error(g_backend_unavailable_error, e.what());
    } catch (const Error& e) {
      set_error(g_base_error, e.what());
    } catch (const cv::Exception& e) {
      set_error(g_backend_error, (std::string("OpenCV: ") + e.what()).c_str());
    }
  });
}

py::tuple make_blob_py(const py::object& images, std::pair<int, int> size, const std::string& mode, bool swap_rb,
                    double scale, const std::vector<double>& mean, const std::vector<double>& std_,
                    double pad_value, bool center, const std::string& sizing, int resize) {
  BlobParams p;
  p.width = size.first;
  p.height = size.second;
  p.mode = parse_resize_mode(mode);
  p.swap_rb = swap_rb;
  p.scale = scale;
  p.mean = triple(mean, "mean");
  p.std = triple(std_, "std");
  p.pad_value = pad_value;
  p.center = center;
  p.sizing = parse_letterbox_sizing(sizing);
  p.resize = resize;
  p.validate();
  std::vector<py::array> keep;
  std::vector<cv::Mat> mats = bgr_images(images, keep);
  const py::ssize_t n = static_cast<py::ssize_t>(mats.size());
  py::array_t<float> blob({n, py::ssize_t{3}, static_cast<py::ssize_t>(p.height), static_cast<py::ssize_t>(p.width)});
  float* out = blob.mutable_data();
  std::vector<Transform> transforms;
  {
    py::gil_scoped_release release;
    transforms = make_blob(mats, p, out);  // grey/BGRA converted after resizing
  }
  std::vector<double> record;
  for (const Transform& t : transforms) {
    record.insert(record.end(), {t.scale_x, t.scale_y, t.pad_x, t.pad_y, static_cast<double>(t.image_width),
                                 static_cast<double>(t.image_height)});
  }
  return py::make_tuple(blob, to_numpy(std::move(record), {n, 6}));
}

py::list postprocess_darknet_py(const std::vector<py::object>& outputs, const py::object& transforms_obj,
                                std::pair<int, int> input_size, float conf, float iou, bool class_agnostic,
                                int max_det, bool objectness_gate) {
  const NmsParams params = nms_params(conf, iou, class_agnostic, max_det);
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
                                       objectness_gate);
    }
  }
  py::list out;
  for (DetectionArrays& d : results) out.append(detection_tuple(std::move(d)));
  return out;
}

py::list postprocess_head_py(const py::object& output_obj, const py::object& transforms_obj,
                             std::pair<int, int> input_size, const std::string& head, float conf, float iou,
                             bool class_agnostic, int max_det, const std::vector<int>& strides) {
  const NmsParams nms = nms_params(conf, iou, class_agnostic, max_det);
  HeadParams params;
  params.head = parse_head(head);
  params.net_width = input_size.first;
  params.net_height = input_size.second;
  params.strides = strides;
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
                            float conf, float iou, bool class_agnostic, int max_det) {
  const NmsParams params = nms_params(conf, iou, class_agnostic, max_det);
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

py::dict section_dict(const CfgSection& s) {
  py::dict layer, options, lines;
  layer["type"] = s.type;
  layer["line"] = s.line;
  layer["index"] = s.index;
  for (const CfgOption& o : s.options) {
    options[py::str(o.key)] = o.value;
    lines[py::str(o.key)] = o.line;
  }
  layer["options"] = options;
  layer["lines"] = lines;
  return layer;
}

py::list cfg_sections(const std::string& path) {
  std::vector<CfgSection> sections;
  {
    py::gil_scoped_release release;
    sections = read_darknet_sections(path);
  }
  py::list out;
  for (const CfgSection& s : sections) out.append(section_dict(s));
  return out;
}

py::dict cfg_info(const std::string& path, int width, int height) {
  if (width < 0 || height < 0) {
    throw InvalidInputError("width and height must be >= 0 (0: the cfg's own), got " + std::to_string(width) + "x" +
                            std::to_string(height));
  }
  DarknetCfg cfg;
  {
    py::gil_scoped_release release;
    cfg = parse_darknet_cfg(path, width, height);
  }
  py::list layers;
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    py::dict layer = section_dict(cfg.layers[i]);
    layer["shape"] = py::make_tuple(cfg.shapes[i].channels, cfg.shapes[i].height, cfg.shapes[i].width);
    layers.append(layer);
  }
  py::dict info;
  info["path"] = cfg.path;
  info["width"] = cfg.width;
  info["height"] = cfg.height;
  info["channels"] = cfg.channels;
  info["num_classes"] = cfg.num_classes;
  info["parameter_count"] = cfg.parameter_count;
  info["net"] = section_dict(cfg.net);
  info["layers"] = layers;
  return info;
}

py::dict weights_info(const std::string& cfg_path, const std::string& weights_path) {
  DarknetWeightsInfo w;
  {
    py::gil_scoped_release release;
    w = check_darknet_weights(parse_darknet_cfg(cfg_path), weights_path);
  }
  py::dict info;
  info["version"] = py::make_tuple(w.major, w.minor, w.revision);
  info["seen"] = w.seen;
  info["header_bytes"] = w.header_bytes;
  info["file_bytes"] = w.file_bytes;
  return info;
}

py::array_t<float> read_weights(const std::string& cfg_path, const std::string& weights_path) {
  std::vector<float> values;
  {
    py::gil_scoped_release release;
    values = read_darknet_weights(parse_darknet_cfg(cfg_path), weights_path);
  }
  const py::ssize_t n = static_cast<py::ssize_t>(values.size());
  return to_numpy(std::move(values), {n});
}

py::dict tensor_info(const TensorInfo& t) {
  py::dict d;
  d["name"] = t.name;
  py::list shape;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] >= 0) {
      shape.append(t.shape[i]);
    } else {
      shape.append(t.dim_names[i].empty() ? py::object(py::none()) : py::object(py::str(t.dim_names[i])));
    }
  }
  d["shape"] = shape;
  d["type"] = t.type;
  return d;
}

class PyBackend {
 public:
  explicit PyBackend(std::unique_ptr<Backend> impl, py::dict info = py::dict())
      : impl_(std::move(impl)), info_(std::move(info)) {}

  py::list forward(const py::object& blob_obj) {
    auto blob = float_array(blob_obj, "blob", 4);
    std::vector<int> shape;
    for (int d = 0; d < 4; ++d) shape.push_back(static_cast<int>(blob.shape(d)));
    if (shape[0] == 0) throw InvalidInputError("blob has batch size 0");
    std::vector<Tensor> tensors;
    {
      py::gil_scoped_release release;
      tensors = impl_->forward(blob.data(), shape);
    }
    py::list out;
    for (Tensor& t : tensors) out.append(shared_to_numpy(std::move(t.data), t.shape));
    return out;
  }
  std::string name() const { return impl_->name(); }
  std::vector<std::string> output_names() const { return impl_->output_names(); }
  py::dict info() const { return info_; }

 private:
  std::unique_ptr<Backend> impl_;
  py::dict info_;
};

PyBackend onnxruntime_from_file(const std::string& path, int intra_op_threads, int inter_op_threads,
                                const std::string& graph_optimization, const std::vector<std::string>& providers,
                                int device_id) {
  OrtSessionConfig config;
  config.intra_op_threads = intra_op_threads;
  config.inter_op_threads = inter_op_threads;
  config.graph_optimization = graph_optimization;
  config.providers = providers;
  config.device_id = device_id;
  std::unique_ptr<OnnxRuntimeBackend> impl;
  {
    py::gil_scoped_release release;
    impl = OnnxRuntimeBackend::from_file(path, config);
  }
  py::dict info;
  py::list inputs, outputs;
  for (const TensorInfo& t : impl->inputs()) inputs.append(tensor_info(t));
  for (const TensorInfo& t : impl->outputs()) outputs.append(tensor_info(t));
  info["inputs"] = inputs;
  info["outputs"] = outputs;
  info["metadata"] = impl->metadata();
  info["providers"] = impl->providers();
  return PyBackend(std::move(impl), info);
}

py::array_t<uint8_t> draw_py(const py::array& image, const py::object& xyxy_obj, const py::object& conf_obj,
                             const py::object& ids_obj, const std::vector<std::string>& labels) {
  cv::Mat view = image_view(image, "image");
  auto xyxy = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(xyxy_obj);
  auto conf = py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(conf_obj);
  auto ids = py::array_t<int, py::array::c_style | py::array::forcecast>::ensure(ids_obj);
  if (!xyxy || !conf || !ids || xyxy.ndim() != 2 || xyxy.shape(1) != 4 || conf.ndim() != 1 || ids.ndim() != 1 ||
      conf.shape(0) != xyxy.shape(0) || ids.shape(0) != xyxy.shape(0)) {
    throw InvalidInputError("draw needs xyxy (N, 4), confidence (N,) and class_id (N,)");
  }
  cv::Mat canvas;
  {
    py::gil_scoped_release release;
    canvas = to_bgr(view).clone();
    draw_detections(canvas, xyxy.data(), conf.data(), ids.data(), static_cast<size_t>(conf.shape(0)), labels);
  }
  return image_to_numpy(canvas);
}

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "fastinfer's native core (private: use the fastinfer package).";
  register_exceptions(m);

  m.def("make_blob", &make_blob_py, py::arg("images"), py::arg("size"), py::arg("mode") = "stretch",
        py::arg("swap_rb") = true, py::arg("scale") = 1.0 / 255.0, py::arg("mean") = std::vector<double>{0.0},
        py::arg("std") = std::vector<double>{1.0}, py::arg("pad_value") = 127.5, py::kw_only(),
        py::arg("center") = true, py::arg("sizing") = "darknet", py::arg("resize") = 0,
        "Images (HxWx{1,3,4} uint8, BGR) -> (NCHW float32 blob, (N, 6) transforms: scale_x, scale_y, pad_x, pad_y, "
        "width, height). mode: 'stretch', 'crop', 'letterbox', 'pad_resize' (pad to the input's aspect ratio, then "
        "stretch) or 'resize_crop' (shorter side to `resize`, then cut the input size from the centre: ImageNet's "
        "Resize + CenterCrop); center=False puts the image at the top-left (padding at the bottom/right); sizing "
        "(letterbox): 'darknet' (integer sizes, per-axis scales), 'floor' or 'round' (one ratio, int() or round() "
        "sizes).");
  m.def("postprocess_darknet", &postprocess_darknet_py, py::arg("outputs"), py::arg("transforms"),
        py::arg("input_size"), py::arg("conf") = 0.25f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false,
        py::arg("max_det") = 0, py::kw_only(), py::arg("objectness_gate") = false,
        "Darknet rows -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. "
        "objectness_gate: also skip rows whose objectness is not above conf (Darknet's rule; exact and much faster "
        "for rows whose class scores are objectness x probability, as OpenCV's Darknet layers and converted "
        "models emit them).");
  m.def("postprocess_head", &postprocess_head_py, py::arg("output"), py::arg("transforms"), py::arg("input_size"),
        py::arg("head"), py::arg("conf") = 0.25f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false,
        py::arg("max_det") = 0, py::arg("strides") = std::vector<int>{8, 16, 32},
        "A YOLO head's output -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. "
        "head: 'yolov5' ((B, N, 5+C) pixel rows), 'yolov8'/'yolo11' ((B, 4+C, N)), 'yolox' ((B, N, 5+C) "
        "grid-relative rows over `strides`) or 'darknet' ((B, N, 5+C) normalised rows); 2-D for one image.");
  m.def("nms", &nms_py, py::arg("boxes"), py::arg("scores"), py::arg("class_ids") = py::none(),
        py::arg("conf") = 0.0f, py::arg("iou") = 0.45f, py::arg("class_agnostic") = false, py::arg("max_det") = 0,
        "Indices kept by NMS (cv::dnn::NMSBoxes semantics), highest score first.");
  m.def("darknet_cfg_info", &cfg_info, py::arg("path"), py::arg("width") = 0, py::arg("height") = 0,
        "Parses and checks a Darknet cfg (fastinfer's one Darknet reader): input size, classes, parameter count, "
        "[net] and every layer with its type, line, index, options, option lines and output shape (C, H, W), "
        "walked at width x height when they are > 0, else at the cfg's own size.");
  m.def("darknet_cfg_sections", &cfg_sections, py::arg("path"),
        "The sections of a Darknet cfg ([net] first) with their type, line, index, options and option lines, as "
        "read before any key or shape is checked.");
  m.def("darknet_weights", &read_weights, py::arg("cfg"), py::arg("weights"),
        "Every parameter of a Darknet weights file after its header, checked against the cfg (size, finite).");
  m.def("darknet_weights_info", &weights_info, py::arg("cfg"), py::arg("weights"),
        "Checks a Darknet weights file against its cfg and returns its header.");
  m.def(
      "imread",
      [](const std::string& path, uint64_t max_pixels, bool strict) {
        ImageReadOptions options;
        options.max_pixels = max_pixels;
        options.strict = strict;
        ImageReadResult read;
        {
          py::gil_scoped_release release;
          read = read_image(path, options);
        }
        if (read.truncated) {
          const std::string message = "image '" + path + "' is truncated: the JPEG data ends before its " +
                                      "end-of-image marker, the missing part is grey (strict=True makes this an error)";
          if (PyErr_WarnEx(g_image_warning, message.c_str(), 1) != 0) throw py::error_already_set();
        }
        return image_to_numpy(read.image);
      },
      py::arg("path"), py::kw_only(), py::arg("max_pixels") = kDefaultMaxImagePixels, py::arg("strict") = false,
      "Reads an image file as BGR uint8. Files declaring more than max_pixels pixels (0: no limit) are refused "
      "before decoding; a truncated JPEG is an ImageWarning, or an InvalidInputError with strict=True.");
  m.def(
      "imwrite",
      [](const std::string& path, const py::array& image) {
        cv::Mat view = image_view(image, "image");
        py::gil_scoped_release release;
        write_image(path, view);
      },
      py::arg("path"), py::arg("image"), "Writes an image file; the extension picks the format.");
  m.def(
      "to_bgr",
      [](const py::array& image) -> py::object {
        cv::Mat view = image_view(image, "image");
        if (view.channels() == 3) return image;
        cv::Mat bgr;
        {
          py::gil_scoped_release release;
          bgr = to_bgr(view);
        }
        return image_to_numpy(bgr);
      },
      py::arg("image"), "Grayscale or BGRA -> BGR (BGR input is returned as it is).");
  m.def("draw_detections", &draw_py, py::arg("image"), py::arg("xyxy"), py::arg("confidence"), py::arg("class_id"),
        py::arg("labels"), "An annotated BGR copy of the image.");
  m.def(
      "draw_banner",
      [](const py::array& image, const std::string& text) {
        cv::Mat view = image_view(image, "image");
        cv::Mat canvas;
        {
          py::gil_scoped_release release;
          canvas = to_bgr(view).clone();
          draw_banner(canvas, text);
        }
        return image_to_numpy(canvas);
      },
      py::arg("image"), py::arg("text"), "A BGR copy of the image with text at the top left.");

  py::class_<PyBackend>(m, "Backend", "A loaded model on one inference backend.")
      .def("forward", &PyBackend::forward, py::arg("blob"), "NCHW float32 blob -> list of output arrays.")
      .def_property_readonly("name", &PyBackend::name)
      .def_property_readonly("output_names", &PyBackend::output_names)
      .def_property_readonly("info", &PyBackend::info, "Inputs, outputs, metadata and providers (ONNX Runtime).");
  m.def(
      "ort_load", [](const std::string& path) {
        py::gil_scoped_release release;
        ort_load(path);
      },
      py::arg("library_path"), "Loads libonnxruntime (once per process).");
  m.def("ort_loaded", &ort_loaded);
  m.def("ort_version", &ort_version, "Version of the loaded ONNX Runtime library.");
  m.def("ort_api_version", &ort_api_version, "The ONNX Runtime API version the core requests.");
  m.def("ort_available_providers", &ort_available_providers);
  m.def("onnxruntime_from_file", &onnxruntime_from_file, py::arg("path"), py::arg("intra_op_threads") = 0,
        py::arg("inter_op_threads") = 0, py::arg("graph_optimization") = "all",
        py::arg("providers") = std::vector<std::string>{}, py::arg("device_id") = 0,
        "Loads an ONNX model on ONNX Runtime.");
  m.def(
      "opencv_from_darknet",
      [](const std::string& cfg, const std::string& weights) {
        std::unique_ptr<Backend> impl;
        {
          py::gil_scoped_release release;
          impl = OpenCVDnnBackend::from_darknet(cfg, weights);
        }
        return PyBackend(std::move(impl));
      },
      py::arg("cfg"), py::arg("weights"), "Loads a Darknet model on OpenCV DNN.");
  m.def(
      "opencv_from_onnx",
      [](const std::string& path) {
        std::unique_ptr<Backend> impl;
        {
          py::gil_scoped_release release;
          impl = OpenCVDnnBackend::from_onnx(path);
        }
        return PyBackend(std::move(impl));
      },
      py::arg("path"), "Loads an ONNX model on OpenCV DNN.");
  m.attr("opencv_version") = CV_VERSION;
  m.attr("DEFAULT_MAX_IMAGE_PIXELS") = kDefaultMaxImagePixels;
  m.attr("__version__") = FASTINFER_VERSION;  // the project version this core was built as (CMake)

  bind_classify(m);
  bind_segment(m);
  bind_ssd(m);
  bind_video(m);
}
