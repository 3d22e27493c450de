// Drawing results on an image: boxes with "label:0.83" labels placed so they stay readable, a text banner, and a
// colour legend.
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

namespace fastinfer {

// The line width used when none is asked for (line_width <= 0): scaled to the image, as Ultralytics does:
// max(round((width + height) / 2 * 0.003), 2).
int default_line_width(int width, int height);

// Where each label goes, in drawing order: one rectangle per box (`xyxy`, n boxes; `sizes`, each label's
// width and height). A label sits above its box when there is room, else inside its top edge; when it would
// cover a label placed before it, it moves to the nearest spot where it covers none: up or down its column,
// else beside the labels there; it is always inside the width x height image (only when no spot is free does
// it overlap another).
std::vector<cv::Rect> place_labels(const float* xyxy, const std::vector<cv::Size>& sizes, size_t n, int width,
                                   int height);

// The size of the filled rectangle a label takes at a line width (text plus padding).
cv::Size label_size(const std::string& text, int line_width);

// Draws in place on a BGR uint8 image; line_width <= 0: default_line_width.
void draw_detections(cv::Mat& image, const float* xyxy, const float* confidence, const int* class_id, size_t n,
                     const std::vector<std::string>& labels, int line_width = 0);

// The label rectangles draw_detections draws, (n) of them.
std::vector<cv::Rect> detection_label_rects(int width, int height, const float* xyxy, const float* confidence,
                                            const int* class_id, size_t n, const std::vector<std::string>& labels,
                                            int line_width = 0);

// Writes `text` at the top left on a filled background (e.g. inference time).
void draw_banner(cv::Mat& image, const std::string& text, int line_width = 0);

// A legend at the top right: one row per entry, a swatch of `colours[i]` (BGR) and `texts[i]`. Rows that do not
// fit the image's height are left out, the last row saying how many.
void draw_legend(cv::Mat& image, const std::vector<std::string>& texts, const std::vector<cv::Scalar>& colours,
                 int line_width = 0);

// A stable, distinct colour per class.
cv::Scalar class_colour(int class_id);

}  // namespace fastinfer
