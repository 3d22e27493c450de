#include "fastinfer/draw.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <opencv2/imgproc.hpp>

namespace fastinfer {

cv::Scalar class_colour(int class_id) {
  // Golden-ratio hue steps give neighbouring ids far-apart colours.
  const double hue = std::fmod(0.1 + 0.618033988749895 * class_id, 1.0) * 180.0;
  cv::Mat hsv(1, 1, CV_8UC3, cv::Scalar(hue, 200, 240));
  cv::Mat bgr;
  cv::cvtColor(hsv, bgr, cv::COLOR_HSV2BGR);
  const cv::Vec3b c = bgr.at<cv::Vec3b>(0, 0);
  return cv::Scalar(c[0], c[1], c[2]);
}

namespace {

void put_label(cv::Mat& image, const std::string& text, cv::Point anchor, const cv::Scalar& background,
               double font_scale, int thickness) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, cv::FONT_HERSHEY_SIMPLEX, font_scale, thickness, &baseline);
  int top = std::max(anchor.y, size.height + baseline);
  cv::rectangle(image, cv::Point(anchor.x, top - size.height - baseline),
                cv::Point(anchor.x + size.width, top), background, cv::FILLED);
  const double luma = 0.114 * background[0] + 0.587 * background[1] + 0.299 * background[2];
  const cv::Scalar ink = luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
  cv::putText(image, text, cv::Point(anchor.x, top - baseline), cv::FONT_HERSHEY_SIMPLEX, font_scale, ink,
              thickness, cv::LINE_AA);
}

}  // namespace

void draw_detections(cv::Mat& image, const float* xyxy, const float* confidence, const int* class_id, size_t n,
                     const std::vector<std::string>& labels) {
  const int side = std::max(image.cols, image.rows);
  const int thickness = std::max(1, side / 400);
  const double font_scale = std::max(0.4, side / 1600.0);
  for (size_t i = 0; i < n; ++i) {
    const float* b = xyxy + 4 * i;
    const cv::Scalar colour = class_colour(class_id[i]);
    const cv::Point p1(static_cast<int>(std::lround(b[0])), static_cast<int>(std::lround(b[1])));
    const cv::Point p2(static_cast<int>(std::lround(b[2])), static_cast<int>(std::lround(b[3])));
    cv::rectangle(image, p1, p2, colour, thickness, cv::LINE_AA);
    char score[16];
    std::snprintf(score, sizeof(score), "%.2f", confidence[i]);
    const std::string name = i < labels.size() ? labels[i] : std::to_string(class_id[i]);
    put_label(image, name + ":" + score, p1, colour, font_scale, std::max(1, thickness / 2));
  }
}

void draw_banner(cv::Mat& image, const std::string& text) {
  const int side = std::max(image.cols, image.rows);
  put_label(image, text, cv::Point(0, 0), cv::Scalar(0, 0, 0), std::max(0.5, side / 1200.0),
            std::max(1, side / 800));
}

}  // namespace fastinfer
