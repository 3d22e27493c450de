// fastinfer._core: the segment functions (argument checks, GIL release, registration).
#include "fastinfer/segment.hpp"

#include "common.hpp"

namespace fastinfer::bindings {

namespace {

// Hands a class map (CV_8U or CV_32S, continuous) to numpy without a copy.
py::array class_map_to_numpy(const cv::Mat& map) {
  auto* owned = new cv::Mat(map);
  py::capsule free_when_done(owned, [](void* p) { delete static_cast<cv::Mat*>(p); });
  const std::vector<py::ssize_t> shape{map.rows, map.cols};
  if (map.type() == CV_8U) return py::array_t<uint8_t>(shape, owned->ptr<uint8_t>(), free_when_done);
  return py::array_t<int32_t>(shape, owned->ptr<int32_t>(), free_when_done);
}

py::list segment_py(const py::array& output_obj, const py::array& transforms_obj, std::pair<int, int> input_size,
                    int num_classes) {
  if (input_size.first <= 0 || input_size.second <= 0) {
    throw InvalidInputError("input_size must be positive, got " + std::to_string(input_size.first) + "x" +
                            std::to_string(input_size.second));
  }
  if (num_classes < 0) throw InvalidInputError("num_classes must be >= 0, got " + std::to_string(num_classes));
  auto output = float_array(output_obj, "output");
  std::vector<int64_t> shape(output.shape(), output.shape() + output.ndim());
  check_segment_output(shape, input_size.first, input_size.second);
  const std::vector<Transform> transforms = transforms_from(transforms_obj);
  if (static_cast<size_t>(shape[0]) != transforms.size()) {
    throw InvalidInputError("output of shape " + shape_of(output) + " holds " + std::to_string(shape[0]) +
                            " image(s) but transforms has " + std::to_string(transforms.size()) + " rows");
  }
  SegmentOutput one;
  one.channels = output.ndim() == 4 ? static_cast<int>(shape[1]) : 0;
  one.height = static_cast<int>(shape[shape.size() - 2]);
  one.width = static_cast<int>(shape[shape.size() - 1]);
  const size_t per_image = static_cast<size_t>(std::max(one.channels, 1)) * one.height * one.width;
  std::vector<cv::Mat> maps(transforms.size());
  {
    py::gil_scoped_release release;
    for (size_t b = 0; b < transforms.size(); ++b) {
      SegmentOutput image = one;
      image.data = output.data() + b * per_image;
      maps[b] = segment(image, transforms[b], input_size.first, input_size.second, num_classes);
    }
  }
  py::list out;
  for (const cv::Mat& map : maps) out.append(class_map_to_numpy(map));
  return out;
}

}  // namespace

void bind_segment(py::module_& m) {
  m.def("segment", &segment_py, py::arg("output"), py::arg("transforms"), py::arg("input_size"),
        py::arg("num_classes") = 0,
        "A segmentation model's output -> per image an (H, W) class map at the original image size (uint8, or "
        "int32 past 256 classes). output: (B, C, h, w) float32 class scores at the input resolution or a fraction "
        "of it (the image's cells, letterbox padding cut off, resized bilinearly as torch's align_corners=False, "
        "then argmax), or a (B, h, w) class map of ids (resized by nearest-exact; num_classes > 0 bounds the "
        "ids). transforms: make_blob's (B, 6) record; input_size: the network input (width, height).");
}

}  // namespace fastinfer::bindings
