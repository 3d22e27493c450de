#include "fastinfer/decode_yolo.hpp"

#include <algorithm>
#include <string>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

// The largest of n scores (NaN compares false, so it is never picked), with
// eight independent maxima so the loop vectorises without -ffast-math.
inline float max_score(const float* scores, size_t n) {
  float lanes[8] = {scores[0], scores[0], scores[0], scores[0], scores[0], scores[0], scores[0], scores[0]};
  size_t c = 0;
  for (; c + 8 <= n; c += 8) {
    for (size_t k = 0; k < 8; ++k) lanes[k] = scores[c + k] > lanes[k] ? scores[c + k] : lanes[k];
  }
  for (; c < n; ++c) lanes[0] = scores[c] > lanes[0] ? scores[c] : lanes[0];
  float m = lanes[0];
  for (size_t k = 1; k < 8; ++k) m = lanes[k] > m ? lanes[k] : m;
  return m;
}

}  // namespace

void decode_darknet_rows(const RowBlock& block, size_t row_length, int net_width, int net_height,
                         const Transform& t, float conf, DetectionArrays& out, bool objectness_gate,
                         bool multi_label) {
  if (row_length < 6) {
    throw InvalidInputError("Darknet rows need at least 6 values (4 box, objectness, 1 class), got " +
                            std::to_string(row_length));
  }
  const size_t num_classes = row_length - 5;
  for (size_t r = 0; r < block.rows; ++r) {
    const float* row = block.data + r * row_length;
    // The objectness gate (Darknet's own rule): a row whose objectness is not
    // above the threshold holds no detection. Where class scores are
    // objectness x class probability (OpenCV's region/yolo layers, the
    // converter's graphs) none of them could pass either, and the row costs
    // one read instead of 80.
    if (objectness_gate && !(row[4] > conf)) continue;
    const float* scores = row + 5;
    // Find the best score with a loop the compiler vectorises, and look for
    // its index only when it passes.
    const float score = max_score(scores, num_classes);
    if (!(score > conf)) continue;
    const float cx = row[0] * net_width;
    const float cy = row[1] * net_height;
    const float hw = row[2] * net_width * 0.5f;
    const float hh = row[3] * net_height * 0.5f;
    const float x1 = (cx - hw - t.pad_x) / t.scale_x;
    const float y1 = (cy - hh - t.pad_y) / t.scale_y;
    const float x2 = (cx + hw - t.pad_x) / t.scale_x;
    const float y2 = (cy + hh - t.pad_y) / t.scale_y;
    if (multi_label) {
      for (size_t c = 0; c < num_classes; ++c) {
        if (!(scores[c] > conf)) continue;
        out.xyxy.insert(out.xyxy.end(), {x1, y1, x2, y2});
        out.confidence.push_back(scores[c]);
        out.class_id.push_back(static_cast<int>(c));
      }
      continue;
    }
    size_t best = 0;
    while (scores[best] != score) ++best;
    out.xyxy.insert(out.xyxy.end(), {x1, y1, x2, y2});
    out.confidence.push_back(score);
    out.class_id.push_back(static_cast<int>(best));
  }
}

DetectionArrays postprocess_darknet(const std::vector<RowBlock>& blocks, size_t row_length, int net_width,
                                    int net_height, const Transform& transform, const NmsParams& nms_params,
                                    bool objectness_gate, bool multi_label) {
  nms_params.validate();
  DetectionArrays candidates;
  for (const RowBlock& block : blocks) {
    decode_darknet_rows(block, row_length, net_width, net_height, transform, nms_params.score_threshold,
                        candidates, objectness_gate, multi_label);
  }
  return suppress_and_clip(candidates, transform, nms_params);
}

DetectionArrays suppress_and_clip(const DetectionArrays& candidates, const Transform& transform,
                                  const NmsParams& nms_params) {
  const std::vector<int> keep = nms(candidates.xyxy.data(), candidates.confidence.data(),
                                    candidates.class_id.data(), candidates.size(), nms_params);
  const float max_x = static_cast<float>(transform.image_width);
  const float max_y = static_cast<float>(transform.image_height);
  DetectionArrays result;
  result.xyxy.reserve(keep.size() * 4);
  result.confidence.reserve(keep.size());
  result.class_id.reserve(keep.size());
  for (int i : keep) {
    const float* b = candidates.xyxy.data() + 4 * static_cast<size_t>(i);
    result.xyxy.insert(result.xyxy.end(), {std::clamp(b[0], 0.f, max_x), std::clamp(b[1], 0.f, max_y),
                                           std::clamp(b[2], 0.f, max_x), std::clamp(b[3], 0.f, max_y)});
    result.confidence.push_back(candidates.confidence[i]);
    result.class_id.push_back(candidates.class_id[i]);
  }
  return result;
}

}  // namespace fastinfer
