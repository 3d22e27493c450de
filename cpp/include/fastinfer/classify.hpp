// Classification post-processing: softmax (unless the model already applies
// it) and the top-k classes of each image.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace fastinfer {

// kAuto applies softmax unless every row already is a probability
// distribution (all values >= 0, each row summing to 1 within 1e-3).
enum class Softmax { kAuto, kApply, kSkip };

// Top-k classes per image, best first (ranked on the scores, which softmax
// does not reorder); ties go to the lower class id.
struct TopClasses {
  size_t images = 0;
  size_t k = 0;                      // min(top_k, classes)
  std::vector<int64_t> class_id;     // images x k
  std::vector<float> confidence;     // images x k
  bool softmax_applied = false;
};

// True if every row of `scores` (rows x classes) is >= 0 and sums to 1 within 1e-3.
bool rows_are_probabilities(const float* scores, size_t rows, size_t classes);

// Numerically stable softmax of one row (max subtracted, sum in double).
void softmax(const float* logits, size_t classes, float* out);

// `scores` holds rows x classes model outputs (logits or probabilities).
// Throws InvalidInputError for top_k < 1, no classes or a non-finite score.
TopClasses top_classes(const float* scores, size_t rows, size_t classes, int top_k, Softmax mode = Softmax::kAuto);

}  // namespace fastinfer
