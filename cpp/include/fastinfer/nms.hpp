// Non-maximum suppression with the semantics of cv::dnn::NMSBoxes.
#pragma once

#include <cstddef>
#include <vector>

namespace fastinfer {

struct NmsParams {
  float score_threshold = 0.f;  // keep scores strictly above it
  float iou_threshold = 0.45f;  // suppress overlaps strictly above it
  bool class_agnostic = false;  // true: one pass over all classes
  int max_detections = 0;       // 0: no limit
  std::vector<int> classes;     // keep only these class ids, before NMS and the limit; empty: every class
  void validate() const;
  bool wanted(int class_id) const;
};

// boxes: n x 4 (x1, y1, x2, y2); scores: n; class_ids: n (ignored when
// class_agnostic and no classes are asked for, may be null then). Returns kept indices, highest score
// first; equal scores keep input order.
std::vector<int> nms(const float* boxes, const float* scores, const int* class_ids, size_t n,
                     const NmsParams& params);

}  // namespace fastinfer
