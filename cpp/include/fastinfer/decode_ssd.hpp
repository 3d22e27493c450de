// Decoding of SSD-style outputs (SSD300, SSDLite): box regressions and class
// scores against a set of prior ("default") boxes, one image at a time.
//
//   priors  [N, 4]  cx, cy, w, h normalised to the network input.
//   loc     [N, 4]  l_x, l_y, l_w, l_h: the centre-size encoding with
//                   variances v0, v1 (0.1, 0.2 as in the original SSD):
//                     cx = p_cx + l_x * v0 * p_w    cy = p_cy + l_y * v0 * p_h
//                     w  = p_w * exp(l_w * v1)      h  = p_h * exp(l_h * v1)
//   scores  [N, K]  K = classes (+ 1 background column): logits turned into
//                   probabilities by a softmax over the K columns or a sigmoid
//                   per column, or probabilities used as they are ("raw").
//
// Every (prior, class) pair scoring strictly above the threshold is a
// candidate (one prior may give boxes of several classes); the background
// column never is. Class ids skip the background column (column c > bg is
// class c - 1). Boxes are mapped back through the preprocessing transform and
// clipped to the image before NMS, as torchvision's SSD does; a box that the
// clipping leaves empty (entirely outside the image) is dropped.
#pragma once

#include <array>
#include <cstddef>
#include <string>

#include "fastinfer/decode_yolo.hpp"
#include "fastinfer/nms.hpp"
#include "fastinfer/preprocess.hpp"

namespace fastinfer {

enum class SsdScores { kSoftmax, kSigmoid, kRaw };

// "softmax", "sigmoid" or "raw"; InvalidInputError otherwise.
SsdScores parse_ssd_scores(const std::string& name);
const char* ssd_scores_name(SsdScores scores);

struct SsdParams {
  int net_width = 300;  // network input, pixels
  int net_height = 300;
  std::array<float, 2> variances{0.1f, 0.2f};  // centre, size
  SsdScores scores = SsdScores::kSoftmax;
  int background = 0;  // the background column; -1: none
  // Every (prior, class) pair above the threshold is a candidate (SSD's and
  // torchvision's rule); false: only each prior's best class (the first of
  // equal best scores), YOLO's default.
  bool multi_label = true;

  void validate() const;
};

// One image's output: `rows` boxes and `rows` x `channels` scores, row-major;
// `priors` holds `num_priors` x 4 values.
struct SsdOutput {
  const float* loc = nullptr;
  const float* scores = nullptr;
  size_t rows = 0;
  size_t channels = 0;
};

struct SsdPriors {
  const float* data = nullptr;
  size_t count = 0;
};

// Checks the output against the priors and the parameters (row count equal to
// the prior count, background column in range, at least one class); throws
// InvalidInputError giving the expected and the actual sizes.
void check_ssd_output(const SsdOutput& output, const SsdPriors& priors, const SsdParams& params);

// Appends every (prior, class) pair scoring strictly above `conf` (with
// params.multi_label false: each prior's best class only) whose box,
// mapped back through `transform` and clipped to the image, is not empty.
// Probabilities are computed in double and rounded to float once.
void decode_ssd(const SsdOutput& output, const SsdPriors& priors, const SsdParams& params,
                const Transform& transform, float conf, DetectionArrays& out);

// Decoding, then NMS (per class unless class-agnostic) on the clipped boxes;
// highest score first, at most max_detections.
DetectionArrays postprocess_ssd(const SsdOutput& output, const SsdPriors& priors, const SsdParams& params,
                                const Transform& transform, const NmsParams& nms_params);

}  // namespace fastinfer
