// Decoding of Darknet-style detection rows, as OpenCV's Darknet region/yolo
// layers emit them: cx, cy, w, h (normalised to the network input),
// objectness, then one score per class.
#pragma once

#include <cstddef>
#include <vector>

#include "fastinfer/nms.hpp"
#include "fastinfer/preprocess.hpp"

namespace fastinfer {

// Parallel arrays for one image: boxes in original-image pixels.
struct DetectionArrays {
  std::vector<float> xyxy;  // n x 4
  std::vector<float> confidence;
  std::vector<int> class_id;
  size_t size() const { return confidence.size(); }
};

// One block of rows belonging to one image.
struct RowBlock {
  const float* data;
  size_t rows;
};

// Keeps rows whose best class score is strictly above `conf`, maps their
// boxes back through `transform` (unclipped). Appends to out.
// multi_label: every class scoring above `conf` gives a detection of its own
// (the same box), as Darknet's detector and YOLOv5's multi_label report them;
// otherwise only the best class (the first of equal best scores).
// objectness_gate: also skip rows whose objectness is not above `conf`, as
// Darknet's detector does. Exact for rows whose class scores are objectness x
// class probability (OpenCV's Darknet layers, fastinfer's converted models),
// and much faster; rows of other origin may need it off.
void decode_darknet_rows(const RowBlock& block, size_t row_length, int net_width, int net_height,
                         const Transform& transform, float conf, DetectionArrays& out, bool objectness_gate = false,
                         bool multi_label = false);

// NMS on the unclipped candidate boxes (as the classic pipeline does), then
// the kept boxes clipped to the image, in NMS order.
DetectionArrays suppress_and_clip(const DetectionArrays& candidates, const Transform& transform,
                                  const NmsParams& nms_params);

// Decoding, NMS, then clipping to the image, for one image (blocks: one per
// output layer).
DetectionArrays postprocess_darknet(const std::vector<RowBlock>& blocks, size_t row_length, int net_width,
                                    int net_height, const Transform& transform, const NmsParams& nms_params,
                                    bool objectness_gate = false, bool multi_label = false);

}  // namespace fastinfer
