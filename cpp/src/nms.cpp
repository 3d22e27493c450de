#include "fastinfer/nms.hpp"

#include <algorithm>
#include <cfloat>
#include <cmath>
#include <map>
#include <numeric>
#include <string>

#include "fastinfer/errors.hpp"

namespace fastinfer {

void NmsParams::validate() const {
  if (!(score_threshold >= 0.f && score_threshold <= 1.f)) {
    throw InvalidInputError("conf (score threshold) must be in [0, 1], got " + std::to_string(score_threshold));
  }
  if (!(iou_threshold >= 0.f && iou_threshold <= 1.f)) {
    throw InvalidInputError("iou threshold must be in [0, 1], got " + std::to_string(iou_threshold));
  }
  if (max_detections < 0) {
    throw InvalidInputError("max_det must be >= 0 (0: no limit), got " + std::to_string(max_detections));
  }
  for (int c : classes) {
    if (c < 0) throw InvalidInputError("classes must be class ids >= 0, got " + std::to_string(c));
  }
}

bool NmsParams::wanted(int class_id) const {
  return classes.empty() || std::find(classes.begin(), classes.end(), class_id) != classes.end();
}

namespace {

// Boxes as x, y, width, height in double, the way cv::Rect2d holds them, so
// overlaps round exactly as OpenCV's do.
struct Rect {
  double x, y, w, h;
  double area() const { return w * h; }
};

float overlap(const Rect& a, const Rect& b) {
  const double area_a = a.area();
  const double area_b = b.area();
  double jaccard_distance = 0.0;
  if (area_a + area_b > DBL_EPSILON) {
    const double x1 = std::max(a.x, b.x);
    const double y1 = std::max(a.y, b.y);
    const double iw = std::min(a.x + a.w, b.x + b.w) - x1;
    const double ih = std::min(a.y + a.h, b.y + b.h) - y1;
    const double inter = (iw <= 0 || ih <= 0) ? 0.0 : iw * ih;
    jaccard_distance = 1.0 - inter / (area_a + area_b - inter);
  }
  return 1.f - static_cast<float>(jaccard_distance);
}

// Greedy suppression over `order` (indices sorted by descending score).
void suppress(const std::vector<Rect>& rects, const std::vector<int>& order, float iou_threshold,
              std::vector<int>& kept) {
  const size_t first = kept.size();
  for (int idx : order) {
    bool keep = true;
    for (size_t k = first; k < kept.size() && keep; ++k) {
      keep = overlap(rects[idx], rects[kept[k]]) <= iou_threshold;
    }
    if (keep) kept.push_back(idx);
  }
}

}  // namespace

std::vector<int> nms(const float* boxes, const float* scores, const int* class_ids, size_t n,
                     const NmsParams& params) {
  params.validate();
  if (!params.classes.empty() && class_ids == nullptr) {
    throw InvalidInputError("classes= needs the class id of every box");
  }
  std::vector<int> order;
  order.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    // Classes not asked for are dropped before NMS, so they neither suppress a box nor take a max_det place.
    if (scores[i] > params.score_threshold && (params.classes.empty() || params.wanted(class_ids[i]))) {
      order.push_back(static_cast<int>(i));
    }
  }
  if (order.empty()) return {};
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return scores[a] > scores[b]; });

  std::vector<Rect> rects(n);
  for (int i : order) {
    const float* b = boxes + 4 * static_cast<size_t>(i);
    rects[i] = Rect{b[0], b[1], static_cast<double>(b[2]) - b[0], static_cast<double>(b[3]) - b[1]};
  }

  std::vector<int> kept;
  if (params.class_agnostic || class_ids == nullptr) {
    suppress(rects, order, params.iou_threshold, kept);
  } else {
    std::map<int, std::vector<int>> per_class;  // each stays in score order
    for (int i : order) per_class[class_ids[i]].push_back(i);
    for (const auto& entry : per_class) suppress(rects, entry.second, params.iou_threshold, kept);
    std::stable_sort(kept.begin(), kept.end(), [&](int a, int b) {
      return scores[a] > scores[b] || (scores[a] == scores[b] && a < b);
    });
  }
  if (params.max_detections > 0 && kept.size() > static_cast<size_t>(params.max_detections)) {
    kept.resize(params.max_detections);
  }
  return kept;
}

}  // namespace fastinfer
