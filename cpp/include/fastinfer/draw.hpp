// Drawing detections on an image (box plus "label:0.83").
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace fastinfer {

// Draws in place on a BGR uint8 image.
void draw_detections(cv::Mat& image, const float* xyxy, const float* confidence, const int* class_id, size_t n,
                     const std::vector<std::string>& labels);

// Writes `text` at the top left on a filled background (e.g. inference time).
void draw_banner(cv::Mat& image, const std::string& text);

// A stable, distinct colour per class.
cv::Scalar class_colour(int class_id);

}  // namespace fastinfer
