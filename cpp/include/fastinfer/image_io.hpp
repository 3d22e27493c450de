// Reading and writing image files (OpenCV imgcodecs), with errors that name
// the file.
#pragma once

#include <cstdint>
#include <string>

#include <opencv2/core.hpp>

namespace fastinfer {

// Images larger than this many pixels are refused before they are decoded
// (268M: 16384 x 16384), so a small file claiming a huge size cannot take
// gigabytes.
constexpr uint64_t kDefaultMaxImagePixels = uint64_t{1} << 28;

struct ImageReadOptions {
  uint64_t max_pixels = kDefaultMaxImagePixels;  // 0: no limit beyond OpenCV's own
  bool strict = false;  // a truncated file is an error (else it is decoded and reported)
};

struct ImageReadResult {
  cv::Mat image;            // BGR uint8
  bool truncated = false;   // the file ends before its image data does (JPEG)
};

// Reads a BGR uint8 image; throws InvalidInputError when the file is
// missing, empty, not a decodable image, larger than `max_pixels`, or (with
// `strict`) truncated.
ImageReadResult read_image(const std::string& path, const ImageReadOptions& options);

// read_image with the default options; a truncated file is an error.
cv::Mat read_image(const std::string& path);

// Writes an image; the format follows the extension.
void write_image(const std::string& path, const cv::Mat& image);

}  // namespace fastinfer
