// Resampling of 8-bit images for the input blob: OpenCV's bilinear resize, or
// the antialiased bilinear resize of PIL (and so of torchvision's transforms
// on PIL images), reproduced to the pixel.
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace fastinfer {

// kCv2: cv::resize(INTER_LINEAR): two source pixels per axis, no antialiasing
//   (what the OpenCV Darknet demo, Ultralytics and YOLOX feed their models).
// kPil: PIL's Image.resize(size, BILINEAR), which torchvision's Resize uses on
//   PIL images (antialias=True): a triangle filter whose support grows with
//   the downscale factor, so every source pixel counts when shrinking.
enum class Resample { kCv2, kPil };

Resample parse_resample(const std::string& name);
const char* resample_name(Resample resample);

// `image` (uint8, 1 to 4 channels) resized to width x height with PIL's
// antialiased bilinear filter, giving the same pixels as PIL:
//   - per axis, output pixel i is centred on source coordinate (i + 0.5) * in / out;
//     the triangle filter is stretched by max(in / out, 1) and its taps, the
//     source pixels whose centres fall within that support, are normalised
//     to sum to 1, then rounded to 22-bit fixed point;
//   - one pass per axis, each rounded and clipped to uint8 (an axis whose
//     size does not change is not resampled); x first, unless the y pass
//     removes more than twice as many rows as the x pass removes columns
//     (Pillow 13's order; Pillow 12 and older always went x first, which
//     moves some values by one grey level).
// `roi`, when not empty, is the part of the width x height result wanted (it
// must lie inside it): only those pixels are computed, with the same values
// as in the whole result. Rows are split between OpenCV's worker threads.
cv::Mat resize_pil(const cv::Mat& image, int width, int height, const cv::Rect& roi = cv::Rect());

}  // namespace fastinfer
