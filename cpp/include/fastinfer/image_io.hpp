// Reading and writing image files (OpenCV imgcodecs), with errors that name
// the file.
#pragma once

#include <string>

#include <opencv2/core.hpp>

namespace fastinfer {

// Reads a BGR uint8 image; throws InvalidInputError when the file is
// missing, empty or not a decodable image.
cv::Mat read_image(const std::string& path);

// Writes an image; the format follows the extension.
void write_image(const std::string& path, const cv::Mat& image);

}  // namespace fastinfer
