// Decoding of the YOLO detection heads that ONNX exports emit, one image at a
// time: threshold, map back through the preprocessing transform, NMS, clip.
//
//   yolov5  [N, 5+C] rows: cx, cy, w, h (network-input pixels), objectness,
//           C class probabilities; score = max_c(obj * cls_c).
//   yolov8  [4+C, N] channel-major (also YOLO11): cx, cy, w, h (pixels), then
//           C class scores; no objectness; score = max_c(cls_c).
//   yolox   [N, 5+C] rows relative to a grid: for each stride s (8, 16, 32 by
//           default) in turn, ceil(H/s) x ceil(W/s) cells in row-major order;
//           cx = (x + gx) * s, cy = (y + gy) * s, w = exp(w) * s,
//           h = exp(h) * s; score = max_c(obj * cls_c).
//   darknet [N, 5+C] rows with the box as fractions of the network input (the
//           rows of decode_yolo.hpp).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "fastinfer/decode_yolo.hpp"
#include "fastinfer/nms.hpp"
#include "fastinfer/preprocess.hpp"

namespace fastinfer {

enum class Head { kDarknet, kYolov5, kYolov8, kYolox };

// "darknet", "yolov5", "yolov8" (or "yolo11"), "yolox"; InvalidInputError otherwise.
Head parse_head(const std::string& name);
const char* head_name(Head head);

struct HeadParams {
  Head head = Head::kYolov8;
  int net_width = 640;   // network input, pixels
  int net_height = 640;
  std::vector<int> strides{8, 16, 32};  // yolox only
  // Every class scoring above the threshold gives a detection of its own (the
  // same box), rather than the best class only (YOLOv5's multi_label).
  bool multi_label = false;

  void validate() const;
  // Rows a yolox output must have: sum over strides of ceil(H/s) * ceil(W/s).
  size_t yolox_rows() const;
};

// One image's output. Row heads (darknet, yolov5, yolox): `anchors` rows of
// `channels` values. yolov8: `channels` rows of `anchors` values.
struct HeadOutput {
  const float* data = nullptr;
  size_t anchors = 0;
  size_t channels = 0;
};

// Checks `output` against the head (channel count, yolox row count); throws
// InvalidInputError giving the expected and the actual sizes.
void check_head_output(const HeadOutput& output, const HeadParams& params);

// Appends the anchors whose score is strictly above `conf`, their boxes mapped
// back through `transform` (unclipped). Row heads skip an anchor whose
// objectness is not above `conf` (with class probabilities <= 1 its score
// cannot be); ties between classes go to the lowest class id. With
// params.multi_label, each class above `conf` is a detection, in class order.
void decode_head(const HeadOutput& output, const HeadParams& params, const Transform& transform, float conf,
                 DetectionArrays& out);

// Decoding, NMS (on the unclipped boxes), then clipping to the image: the
// conventions of postprocess_darknet.
DetectionArrays postprocess_head(const HeadOutput& output, const HeadParams& params, const Transform& transform,
                                 const NmsParams& nms_params);

}  // namespace fastinfer
