// fastinfer._core: reading, writing, converting and drawing images, and the input blob (argument checks, GIL release, registration).
#include <string>
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

py::array_t<uint8_t> draw_py(const py::array& image, const py::array& xyxy_obj, const py::array& conf_obj,
                             const py::array& ids_obj, const std::vector<std::string>& labels) {
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

  m.attr("DEFAULT_MAX_IMAGE_PIXELS") = kDefaultMaxImagePixels;
}

}  // namespace fastinfer::bindings
