// Darknet's own image resampling, reproduced to the bit, so that a letterboxed
// blob equals the one `darknet detect` feeds its network.
//
// Darknet (pjreddie's, as Debian packages it) holds images as float planes in
// [0, 1] (each byte divided by 255 in double, rounded to float) and resizes
// them with a two-pass bilinear filter whose sample positions put the first
// and last output pixels on the first and last input pixels:
//   - horizontal pass, every input row: x_scale = float(in_w - 1) / (out_w - 1)
//     (float arithmetic); output column c reads sx = c * x_scale, ix = int(sx),
//     dx = sx - ix, value (1 - dx) * in[ix] + dx * in[ix + 1]; the last column
//     (or every column of a 1-pixel-wide input) copies the last input column;
//   - vertical pass on that: y_scale = float(in_h - 1) / (out_h - 1), row r
//     reads sy = r * y_scale, iy = int(sy), dy = sy - iy; the value is
//     (1 - dy) * row[iy], plus dy * row[iy + 1] except on the last output row
//     (or for a 1-pixel-high input), where Darknet adds nothing.
// Every product and sum is a separate float operation (no fused multiply-add;
// the file is compiled with -ffp-contract=off). A 1-pixel-high output reads
// the first input row (Darknet's y_scale divides by zero there).
#pragma once

#include <opencv2/core.hpp>

namespace fastinfer {

// `image` (uint8, 3 channels) as Darknet holds it: CV_32FC3 with each value
// float(byte / 255.0), channels in the same order.
cv::Mat darknet_image(const cv::Mat& image);

// A CV_32FC3 image resized to width x height with Darknet's resize_image
// (above); the input itself when it already has that size.
cv::Mat darknet_resize(const cv::Mat& image, int width, int height);

}  // namespace fastinfer
