#include "fastinfer/decode_ssd.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <numeric>
#include <string>
#include <vector>

#include "fastinfer/errors.hpp"

namespace fastinfer {

SsdScores parse_ssd_scores(const std::string& name) {
  if (name == "softmax") return SsdScores::kSoftmax;
  if (name == "sigmoid") return SsdScores::kSigmoid;
  if (name == "raw") return SsdScores::kRaw;
  throw InvalidInputError("scores must be 'softmax', 'sigmoid' or 'raw', got '" + name + "'");
}

const char* ssd_scores_name(SsdScores scores) {
  switch (scores) {
    case SsdScores::kSoftmax: return "softmax";
    case SsdScores::kSigmoid: return "sigmoid";
    case SsdScores::kRaw: return "raw";
  }
  return "?";
}

void SsdParams::validate() const {
  if (net_width <= 0 || net_height <= 0) {
    throw InvalidInputError("input size must be positive, got " + std::to_string(net_width) + "x" +
                            std::to_string(net_height));
  }
  for (float v : variances) {
    if (!(std::isfinite(v) && v > 0.f)) {
      throw InvalidInputError("variances must be two finite values > 0, got (" + std::to_string(variances[0]) + ", " +
                              std::to_string(variances[1]) + ")");
    }
  }
  if (background < -1) {
    throw InvalidInputError("background must be a score column >= 0 (or -1 for none), got " +
                            std::to_string(background));
  }
}

void check_ssd_output(const SsdOutput& o, const SsdPriors& priors, const SsdParams& p) {
  p.validate();
  if (o.rows != priors.count) {
    throw InvalidInputError("the model gives " + std::to_string(o.rows) + " boxes but there are " +
                            std::to_string(priors.count) + " priors; they must be equal");
  }
  if (p.background >= 0 && static_cast<size_t>(p.background) >= o.channels) {
    throw InvalidInputError("background index " + std::to_string(p.background) + " is out of range for " +
                            std::to_string(o.channels) + " score columns (0.." + std::to_string(o.channels - 1) +
                            ")");
  }
  const size_t classes = o.channels - (p.background >= 0 ? 1 : 0);
  if (classes == 0) {
    throw InvalidInputError("scores need at least one class column besides the background, got " +
                            std::to_string(o.channels) + " column(s)");
  }
  if (o.rows > 0 && (o.loc == nullptr || o.scores == nullptr || priors.data == nullptr)) {
    throw InvalidInputError("SSD output or priors have no data");
  }
}

void decode_ssd(const SsdOutput& o, const SsdPriors& priors, const SsdParams& p, const Transform& t, float conf,
                DetectionArrays& out) {
  check_ssd_output(o, priors, p);
  const size_t k = o.channels;
  const int bg = p.background;
  // A cheap bound first, so that most rows cost no exp(): a softmax
  // probability is at most exp(l - max l), a sigmoid passes conf only above
  // logit(conf). The margin keeps the bound safe from rounding; the exact
  // test is on the probability itself. (Raw scores: the bound is conf.)
  constexpr double kMargin = 1e-4;
  const bool softmax = p.scores == SsdScores::kSoftmax;
  const double log_conf = std::log(static_cast<double>(conf));
  const double bound = softmax ? log_conf - kMargin
                       : p.scores == SsdScores::kSigmoid ? log_conf - std::log1p(-static_cast<double>(conf)) - kMargin
                                                          : static_cast<double>(conf);
  const float v0 = p.variances[0];
  const float v1 = p.variances[1];
  const float max_x = static_cast<float>(t.image_width);
  const float max_y = static_cast<float>(t.image_height);
  const float net_w = static_cast<float>(p.net_width);
  const float net_h = static_cast<float>(p.net_height);

  for (size_t r = 0; r < o.rows; ++r) {
    const float* s = o.scores + r * k;
    const double top = softmax ? *std::max_element(s, s + k) : 0.0;  // s[c] - top: the bound's left side
    bool any = false;
    for (size_t c = 0; c < k && !any; ++c) any = static_cast<int>(c) != bg && s[c] - top > bound;
    if (!any) continue;

    double denominator = 0.0;
    if (softmax) {
      for (size_t c = 0; c < k; ++c) denominator += std::exp(static_cast<double>(s[c]) - top);
    }
    // Single-label: the best non-background column only (scores rise with the logits, so the best logit).
    int only = -1;
    if (!p.multi_label) {
      for (size_t c = 0; c < k; ++c) {
        if (static_cast<int>(c) != bg && (only < 0 || s[c] > s[only])) only = static_cast<int>(c);
      }
    }
    bool decoded = false;
    float box[4];
    bool empty = false;
    for (size_t c = 0; c < k; ++c) {
      if (static_cast<int>(c) == bg || (only >= 0 && static_cast<int>(c) != only)) continue;
      if (!(s[c] - top > bound)) continue;
      float score = s[c];
      if (softmax) {
        score = static_cast<float>(std::exp(static_cast<double>(s[c]) - top) / denominator);
      } else if (p.scores == SsdScores::kSigmoid) {
        score = static_cast<float>(1.0 / (1.0 + std::exp(-static_cast<double>(s[c]))));
      }
      if (!(score > conf)) continue;
      if (!decoded) {
        const float* pr = priors.data + 4 * r;
        const float* l = o.loc + 4 * r;
        const float cx = pr[0] + l[0] * v0 * pr[2];
        const float cy = pr[1] + l[1] * v0 * pr[3];
        const float hw = 0.5f * pr[2] * std::exp(l[2] * v1);
        const float hh = 0.5f * pr[3] * std::exp(l[3] * v1);
        box[0] = std::clamp(((cx - hw) * net_w - t.pad_x) / t.scale_x, 0.f, max_x);
        box[1] = std::clamp(((cy - hh) * net_h - t.pad_y) / t.scale_y, 0.f, max_y);
        box[2] = std::clamp(((cx + hw) * net_w - t.pad_x) / t.scale_x, 0.f, max_x);
        box[3] = std::clamp(((cy + hh) * net_h - t.pad_y) / t.scale_y, 0.f, max_y);
        decoded = true;
        // Entirely outside the image (in letterbox padding, say): nothing left to detect.
        empty = !(box[2] > box[0] && box[3] > box[1]);
      }
      if (empty) break;
      out.xyxy.insert(out.xyxy.end(), box, box + 4);
      out.confidence.push_back(score);
      out.class_id.push_back(bg >= 0 && static_cast<int>(c) > bg ? static_cast<int>(c) - 1 : static_cast<int>(c));
    }
  }
}

DetectionArrays postprocess_ssd(const SsdOutput& output, const SsdPriors& priors, const SsdParams& params,
                                const Transform& transform, const NmsParams& nms_params) {
  nms_params.validate();
  DetectionArrays candidates;
  decode_ssd(output, priors, params, transform, nms_params.score_threshold, candidates);
  // The boxes are clipped already; suppress_and_clip's clipping leaves them as they are.
  const size_t n = candidates.size();
  const size_t limit = static_cast<size_t>(nms_params.max_detections);
  if (limit == 0) return suppress_and_clip(candidates, transform, nms_params);
  // A low threshold leaves tens of thousands of candidates, most of them never
  // compared with anything that suppresses them. NMS keeps or drops a box by
  // the boxes scoring above it only, so the boxes it keeps among the T best
  // candidates are exactly those of all candidates; once they are max_det,
  // they are the answer. Otherwise T grows.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  const std::vector<float>& score = candidates.confidence;
  auto better = [&](int a, int b) { return score[a] > score[b] || (score[a] == score[b] && a < b); };
  for (size_t t = std::max<size_t>(4 * limit, 1024); t < n; t *= 4) {
    std::nth_element(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(t), order.end(), better);
    std::vector<int> best(order.begin(), order.begin() + static_cast<std::ptrdiff_t>(t));
    std::sort(best.begin(), best.end());  // candidate order, so ties still go to the earlier candidate
    DetectionArrays top;
    top.xyxy.reserve(4 * t);
    for (int i : best) {
      const float* b = candidates.xyxy.data() + 4 * static_cast<size_t>(i);
      top.xyxy.insert(top.xyxy.end(), b, b + 4);
      top.confidence.push_back(candidates.confidence[i]);
      top.class_id.push_back(candidates.class_id[i]);
    }
    DetectionArrays kept = suppress_and_clip(top, transform, nms_params);
    if (kept.size() >= limit) return kept;
  }
  return suppress_and_clip(candidates, transform, nms_params);
}

}  // namespace fastinfer
