// fastinfer._core: reading, writing, converting and drawing images, and the input blob (argument checks, GIL release, registration).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastinfer/draw.hpp"
#include "fastinfer/errors.hpp"
#include "fastinfer/image_io.hpp"
#include "fastinfer/preprocess.hpp"
#include "common.hpp"
#include "numpy_views.hpp"

namespace fastinfer::bindings {

namespace {

// fastinfer.Transforms: the (N, 6) float64 record make_blob returns, as a named numpy.ndarray subclass
// whose columns have names (it stays an ndarray: every numpy use of the record keeps working).
py::handle g_transforms_type;  // a reference held for the life of the process (no destructor after finalisation)

const char* const kTransformFields[] = {"scale_x", "scale_y", "pad_x", "pad_y", "image_width", "image_height"};

py::object make_transforms_type() {
  py::module_ builtins = py::module_::import("builtins");
  py::dict ns;
  ns["__module__"] = "fastinfer";
  ns["__doc__"] =
      "Where each image went in the network input: an (N, 6) float64 numpy array, one row per image, whose columns "
      "are scale_x, scale_y, pad_x, pad_y, image_width, image_height (also properties of those names; a row "
      "`transforms[i]` has them too). A point of the image maps into the input as x_input = x_image * scale_x + "
      "pad_x, y_input = y_image * scale_y + pad_y.";
  ns["FIELDS"] = py::make_tuple(kTransformFields[0], kTransformFields[1], kTransformFields[2], kTransformFields[3],
                                kTransformFields[4], kTransformFields[5]);
  for (int i = 0; i < 6; ++i) {
    py::cpp_function column(
        [i](const py::object& self) {
          py::object values = self.attr("__getitem__")(py::make_tuple(py::ellipsis(), i));
          return py::module_::import("numpy").attr("asarray")(values);
        },
        py::name(kTransformFields[i]));
    ns[kTransformFields[i]] = builtins.attr("property")(column, py::none(), py::none(),
                                                       std::string("Column ") + std::to_string(i) + ": " +
                                                           kTransformFields[i] + " of each image.");
  }
  return builtins.attr("type")("Transforms", py::make_tuple(py::module_::import("numpy").attr("ndarray")), ns);
}

py::tuple make_blob_py(const py::object& images, std::pair<int, int> size, const std::string& mode, bool swap_rb,
                    double scale, const std::vector<double>& mean, const std::vector<double>& std_,
                    double pad_value, bool center, const std::string& sizing, int resize,
                    const std::string& resample) {
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
  p.resample = parse_resample(resample);
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
  return py::make_tuple(blob, to_numpy(std::move(record), {n, 6}).attr("view")(g_transforms_type));
}

// line_width: None (scaled to the image) or a positive number of pixels.
int line_width_of(const std::optional<int>& line_width) {
  if (line_width && *line_width <= 0) {
    throw InvalidInputError("line_width must be a positive number of pixels or None, got " +
                            std::to_string(*line_width));
  }
  return line_width.value_or(0);
}

struct DetectionViews {
  py::array_t<float, py::array::c_style | py::array::forcecast> xyxy;
  py::array_t<float, py::array::c_style | py::array::forcecast> conf;
  py::array_t<int, py::array::c_style | py::array::forcecast> ids;
  size_t size() const { return static_cast<size_t>(conf.shape(0)); }
};

DetectionViews detection_views(const py::array& xyxy_obj, const py::array& conf_obj, const py::array& ids_obj,
                               const std::vector<std::string>& labels) {
  DetectionViews v{py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(xyxy_obj),
                   py::array_t<float, py::array::c_style | py::array::forcecast>::ensure(conf_obj),
                   py::array_t<int, py::array::c_style | py::array::forcecast>::ensure(ids_obj)};
  if (!v.xyxy || !v.conf || !v.ids || v.xyxy.ndim() != 2 || v.xyxy.shape(1) != 4 || v.conf.ndim() != 1 ||
      v.ids.ndim() != 1 || v.conf.shape(0) != v.xyxy.shape(0) || v.ids.shape(0) != v.xyxy.shape(0)) {
    throw InvalidInputError("draw needs xyxy (N, 4), confidence (N,) and class_id (N,)");
  }
  if (!labels.empty() && labels.size() != v.size()) {
    throw InvalidInputError("draw needs one label per box: " + std::to_string(v.size()) + " boxes, " +
                            std::to_string(labels.size()) + " labels");
  }
  return v;
}

py::array_t<uint8_t> draw_py(const py::array& image, const py::array& xyxy_obj, const py::array& conf_obj,
                             const py::array& ids_obj, const std::vector<std::string>& labels,
                             const std::optional<int>& line_width) {
  cv::Mat view = image_view(image, "image");
  const int lw = line_width_of(line_width);
  DetectionViews v = detection_views(xyxy_obj, conf_obj, ids_obj, labels);
  cv::Mat canvas;
  {
    py::gil_scoped_release release;
    canvas = to_bgr(view).clone();
    draw_detections(canvas, v.xyxy.data(), v.conf.data(), v.ids.data(), v.size(), labels, lw);
  }
  return image_to_numpy(canvas);
}

py::array_t<int32_t> label_rects_py(const std::pair<int, int>& image_size, const py::array& xyxy_obj,
                                    const py::array& conf_obj, const py::array& ids_obj,
                                    const std::vector<std::string>& labels, const std::optional<int>& line_width) {
  const auto [width, height] = image_size;
  if (width <= 0 || height <= 0) {
    throw InvalidInputError("image_size must be a positive (width, height), got (" + std::to_string(width) + ", " +
                            std::to_string(height) + ")");
  }
  const int lw = line_width_of(line_width);
  DetectionViews v = detection_views(xyxy_obj, conf_obj, ids_obj, labels);
  std::vector<cv::Rect> rects;
  {
    py::gil_scoped_release release;
    rects = detection_label_rects(width, height, v.xyxy.data(), v.conf.data(), v.ids.data(), v.size(), labels, lw);
  }
  py::array_t<int32_t> out({static_cast<py::ssize_t>(rects.size()), static_cast<py::ssize_t>(4)});
  auto r = out.mutable_unchecked<2>();
  for (size_t i = 0; i < rects.size(); ++i) {
    const auto k = static_cast<py::ssize_t>(i);
    r(k, 0) = rects[i].x;
    r(k, 1) = rects[i].y;
    r(k, 2) = rects[i].x + rects[i].width;
    r(k, 3) = rects[i].y + rects[i].height;
  }
  return out;
}

py::array_t<uint8_t> legend_py(const py::array& image, const std::vector<std::string>& texts,
                               const py::array& colours_obj, const std::optional<int>& line_width) {
  cv::Mat view = image_view(image, "image");
  const int lw = line_width_of(line_width);
  auto colours = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>::ensure(colours_obj);
  if (!colours || colours.ndim() != 2 || colours.shape(1) != 3 || static_cast<size_t>(colours.shape(0)) != texts.size()) {
    throw InvalidInputError("a legend needs one BGR colour (K, 3) per text: " + std::to_string(texts.size()) +
                            " texts");
  }
  std::vector<cv::Scalar> bgr;
  auto c = colours.unchecked<2>();
  for (py::ssize_t i = 0; i < colours.shape(0); ++i) bgr.emplace_back(c(i, 0), c(i, 1), c(i, 2));
  cv::Mat canvas;
  {
    py::gil_scoped_release release;
    canvas = to_bgr(view).clone();
    draw_legend(canvas, texts, bgr, lw);
  }
  return image_to_numpy(canvas);
}

}  // namespace

void bind_images(py::module_& m) {
  g_transforms_type = make_transforms_type().release();
  m.attr("Transforms") = g_transforms_type;
  m.def("make_blob", &make_blob_py, py::arg("images"), py::arg("size"), py::arg("mode") = "stretch",
        py::arg("swap_rb") = true, py::arg("scale") = 1.0 / 255.0, py::arg("mean") = std::vector<double>{0.0},
        py::arg("std") = std::vector<double>{1.0}, py::arg("pad_value") = 127.5, py::kw_only(),
        py::arg("center") = true, py::arg("sizing") = "darknet", py::arg("resize") = 0,
        py::arg("resample") = "cv2",
        "Images (HxWx{1,3,4} uint8, BGR) -> (NCHW float32 blob, Transforms: an (N, 6) float64 array whose columns "
        "scale_x, scale_y, pad_x, pad_y, image_width, image_height are also named properties). mode: 'stretch', 'crop', 'letterbox', 'pad_resize' (pad to the input's aspect ratio, then "
        "stretch) or 'resize_crop' (shorter side to `resize`, then cut the input size from the centre: ImageNet's "
        "Resize + CenterCrop); center=False puts the image at the top-left (padding at the bottom/right); sizing "
        "(letterbox): 'darknet' (integer sizes, per-axis scales), 'floor' or 'round' (one ratio, int() or round() "
        "sizes); resample: 'cv2' (OpenCV's bilinear, cv2.resize INTER_LINEAR) or 'pil' (antialiased bilinear, "
        "PIL's Image.resize BILINEAR as torchvision's Resize uses it, to the pixel).");
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
          if (PyErr_WarnEx(image_warning(), message.c_str(), 1) != 0) throw py::error_already_set();
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
        py::arg("labels"), py::arg("line_width") = py::none(),
        "An annotated BGR copy of the image: boxes, and labels placed by label_rects. line_width: pixels, or None "
        "(max(round((width + height) / 2 * 0.003), 2)).");
  m.def("label_rects", &label_rects_py, py::arg("image_size"), py::arg("xyxy"), py::arg("confidence"),
        py::arg("class_id"), py::arg("labels"), py::arg("line_width") = py::none(),
        "Where draw_detections puts each label on a (width, height) image: (N, 4) int32 x1, y1, x2, y2. Above "
        "the box when there is room, else inside it; moved up or down off the labels of more confident boxes; "
        "always inside the image.");
  m.def(
      "draw_banner",
      [](const py::array& image, const std::string& text, const std::optional<int>& line_width) {
        cv::Mat view = image_view(image, "image");
        const int lw = line_width_of(line_width);
        cv::Mat canvas;
        {
          py::gil_scoped_release release;
          canvas = to_bgr(view).clone();
          draw_banner(canvas, text, lw);
        }
        return image_to_numpy(canvas);
      },
      py::arg("image"), py::arg("text"), py::arg("line_width") = py::none(),
      "A BGR copy of the image with text at the top left.");
  m.def("draw_legend", &legend_py, py::arg("image"), py::arg("texts"), py::arg("colours"),
        py::arg("line_width") = py::none(),
        "A BGR copy of the image with a legend at the top right: a swatch of each BGR colour (K, 3) and its text.");

  m.attr("DEFAULT_MAX_IMAGE_PIXELS") = kDefaultMaxImagePixels;
}

}  // namespace fastinfer::bindings
