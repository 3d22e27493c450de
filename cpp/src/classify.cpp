#include "fastinfer/classify.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

constexpr double kSumTolerance = 1e-3;

void check_finite(const float* scores, size_t rows, size_t classes) {
  for (size_t r = 0; r < rows; ++r) {
    for (size_t c = 0; c < classes; ++c) {
      const float v = scores[r * classes + c];
      if (!std::isfinite(v)) {
        throw InvalidInputError("scores must be finite, got " + std::to_string(v) + " at image " + std::to_string(r) +
                                ", class " + std::to_string(c));
      }
    }
  }
}

}  // namespace

bool rows_are_probabilities(const float* scores, size_t rows, size_t classes) {
  for (size_t r = 0; r < rows; ++r) {
    const float* row = scores + r * classes;
    double sum = 0.0;
    for (size_t c = 0; c < classes; ++c) {
      if (row[c] < 0.f) return false;
      sum += row[c];
    }
    if (std::abs(sum - 1.0) > kSumTolerance) return false;
  }
  return rows > 0;
}

void softmax(const float* logits, size_t classes, float* out) {
  if (classes == 0) return;
  const float top = *std::max_element(logits, logits + classes);
  double sum = 0.0;
  for (size_t c = 0; c < classes; ++c) {
    out[c] = std::exp(logits[c] - top);
    sum += out[c];
  }
  const float inv = static_cast<float>(1.0 / sum);
  for (size_t c = 0; c < classes; ++c) out[c] *= inv;
}

TopClasses top_classes(const float* scores, size_t rows, size_t classes, int top_k, Softmax mode) {
  if (top_k < 1) throw InvalidInputError("top_k must be at least 1, got " + std::to_string(top_k));
  if (classes == 0) throw InvalidInputError("scores have no classes (shape (" + std::to_string(rows) + ", 0))");
  check_finite(scores, rows, classes);
  TopClasses out;
  out.images = rows;
  out.k = std::min(static_cast<size_t>(top_k), classes);
  out.softmax_applied =
      mode == Softmax::kApply || (mode == Softmax::kAuto && !rows_are_probabilities(scores, rows, classes));
  out.class_id.resize(rows * out.k);
  out.confidence.resize(rows * out.k);
  std::vector<float> probabilities(classes);
  std::vector<int64_t> order(classes);
  for (size_t r = 0; r < rows; ++r) {
    // Ranked on the scores themselves: softmax keeps their order, and
    // logits that its float32 results would round together stay apart.
    const float* row = scores + r * classes;
    std::iota(order.begin(), order.end(), int64_t{0});
    std::partial_sort(order.begin(), order.begin() + out.k, order.end(), [row](int64_t a, int64_t b) {
      return row[a] > row[b] || (row[a] == row[b] && a < b);
    });
    const float* confidence = row;
    if (out.softmax_applied) {
      softmax(row, classes, probabilities.data());
      confidence = probabilities.data();
    }
    for (size_t i = 0; i < out.k; ++i) {
      out.class_id[r * out.k + i] = order[i];
      out.confidence[r * out.k + i] = confidence[order[i]];
    }
  }
  return out;
}

}  // namespace fastinfer
