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

int default_line_width(int width, int height) {
  return std::max(static_cast<int>(std::lround((width + height) / 2.0 * 0.003)), 2);
}

namespace {

constexpr int kFont = cv::FONT_HERSHEY_SIMPLEX;
constexpr int kPad = 2;  // pixels around the text inside a label

int resolve(int line_width, const cv::Mat& image) {
  return line_width > 0 ? line_width : default_line_width(image.cols, image.rows);
}

// Text size follows the line width: font scale line_width / 3, stroke line_width - 1 (at least 1).
double font_scale(int line_width) { return line_width / 3.0; }
int font_thickness(int line_width) { return std::max(line_width - 1, 1); }

cv::Scalar ink_on(const cv::Scalar& background) {
  const double luma = 0.114 * background[0] + 0.587 * background[1] + 0.299 * background[2];
  return luma > 140 ? cv::Scalar(0, 0, 0) : cv::Scalar(255, 255, 255);
}

// Fills `rect` with `background` and writes `text` inside it, in black or white, whichever reads better.
void put_label(cv::Mat& image, const std::string& text, const cv::Rect& rect, const cv::Scalar& background,
               int line_width) {
  cv::rectangle(image, rect, background, cv::FILLED);
  int baseline = 0;
  cv::getTextSize(text, kFont, font_scale(line_width), font_thickness(line_width), &baseline);
  cv::putText(image, text, cv::Point(rect.x + kPad, rect.y + rect.height - kPad - baseline), kFont,
              font_scale(line_width), ink_on(background), font_thickness(line_width), cv::LINE_AA);
}

bool overlaps_any(const cv::Rect& r, const std::vector<cv::Rect>& placed) {
  for (const cv::Rect& p : placed) {
    if ((r & p).area() > 0) return true;
  }
  return false;
}

std::string detection_text(const std::vector<std::string>& labels, size_t i, int class_id, float confidence) {
  char score[16];
  std::snprintf(score, sizeof(score), "%.2f", confidence);
  return (i < labels.size() ? labels[i] : std::to_string(class_id)) + ":" + score;
}

}  // namespace

cv::Size label_size(const std::string& text, int line_width) {
  int baseline = 0;
  const cv::Size size = cv::getTextSize(text, kFont, font_scale(line_width), font_thickness(line_width), &baseline);
  return cv::Size(size.width + 2 * kPad, size.height + baseline + 2 * kPad);
}

std::vector<cv::Rect> place_labels(const float* xyxy, const std::vector<cv::Size>& sizes, size_t n, int width,
                                   int height) {
  std::vector<cv::Rect> placed;
  placed.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const float* b = xyxy + 4 * i;
    const int w = std::clamp(sizes[i].width, 0, std::max(width, 0));
    const int h = std::clamp(sizes[i].height, 0, std::max(height, 0));
    const int max_x = std::max(width - w, 0);
    const int max_y = std::max(height - h, 0);
    const auto to_int = [](float v) {
      return std::isfinite(v) ? static_cast<int>(std::lround(std::clamp(v, -1e6f, 1e6f))) : 0;
    };
    const int x = std::clamp(to_int(b[0]), 0, max_x);
    const int top = to_int(b[1]);
    // Above the box when it fits there, else inside its top edge.
    const int first = std::clamp(top - h >= 0 ? top - h : top, 0, max_y);
    cv::Rect chosen(x, first, w, h);
    if (overlaps_any(chosen, placed) && h > 0) {
      // The nearest free spot: in the label's column first, next to (below or above) a label already there or
      // at the image's top or bottom; when the column is full, in the columns beside the labels there.
      const auto nearest = [](std::vector<int> values, int to, int high) {
        values.erase(std::remove_if(values.begin(), values.end(), [high](int v) { return v < 0 || v > high; }),
                     values.end());
        std::stable_sort(values.begin(), values.end(),
                         [to](int a, int b) { return std::abs(a - to) < std::abs(b - to); });
        values.erase(std::unique(values.begin(), values.end()), values.end());
        return values;
      };
      std::vector<int> xs = {x}, ys = {0, max_y};
      for (const cv::Rect& p : placed) {
        xs.push_back(p.x + p.width);
        xs.push_back(p.x - w);
        ys.push_back(p.y + p.height);
        ys.push_back(p.y - h);
      }
      xs = nearest(xs, x, max_x);
      ys = nearest(ys, first, max_y);
      // The label's own column, then the few nearest others (a bound: a crowd that leaves no free spot
      // would otherwise try every column against every row).
      constexpr size_t kColumns = 9;
      bool found = false;
      for (size_t a = 0; a < std::min(xs.size(), kColumns) && !found; ++a) {
        for (int y : ys) {
          const cv::Rect candidate(xs[a], y, w, h);
          if (!overlaps_any(candidate, placed)) {
            chosen = candidate;
            found = true;
            break;
          }
        }
      }
    }
    placed.push_back(chosen);
  }
  return placed;
}

std::vector<cv::Rect> detection_label_rects(int width, int height, const float* xyxy, const float* confidence,
                                            const int* class_id, size_t n, const std::vector<std::string>& labels,
                                            int line_width) {
  const int lw = line_width > 0 ? line_width : default_line_width(width, height);
  // The most confident detections choose their spots first.
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return confidence[a] > confidence[b]; });
  std::vector<float> boxes(4 * n);
  std::vector<cv::Size> sizes;
  sizes.reserve(n);
  for (size_t k = 0; k < n; ++k) {
    const size_t i = order[k];
    std::copy(xyxy + 4 * i, xyxy + 4 * i + 4, boxes.begin() + 4 * k);
    sizes.push_back(label_size(detection_text(labels, i, class_id[i], confidence[i]), lw));
  }
  const std::vector<cv::Rect> placed = place_labels(boxes.data(), sizes, n, width, height);
  std::vector<cv::Rect> rects(n);
  for (size_t k = 0; k < n; ++k) rects[order[k]] = placed[k];
  return rects;
}

void draw_detections(cv::Mat& image, const float* xyxy, const float* confidence, const int* class_id, size_t n,
                     const std::vector<std::string>& labels, int line_width) {
  const int lw = resolve(line_width, image);
  for (size_t i = 0; i < n; ++i) {
    const float* b = xyxy + 4 * i;
    const cv::Point p1(static_cast<int>(std::lround(b[0])), static_cast<int>(std::lround(b[1])));
    const cv::Point p2(static_cast<int>(std::lround(b[2])), static_cast<int>(std::lround(b[3])));
    cv::rectangle(image, p1, p2, class_colour(class_id[i]), lw, cv::LINE_AA);
  }
  // Labels after every box, so no box line crosses a label.
  const std::vector<cv::Rect> rects =
      detection_label_rects(image.cols, image.rows, xyxy, confidence, class_id, n, labels, lw);
  for (size_t i = 0; i < n; ++i) {
    put_label(image, detection_text(labels, i, class_id[i], confidence[i]), rects[i], class_colour(class_id[i]), lw);
  }
}

void draw_banner(cv::Mat& image, const std::string& text, int line_width) {
  const int lw = resolve(line_width, image);
  const cv::Size size = label_size(text, lw);
  put_label(image, text, cv::Rect(0, 0, size.width, size.height), cv::Scalar(0, 0, 0), lw);
}

void draw_legend(cv::Mat& image, const std::vector<std::string>& texts, const std::vector<cv::Scalar>& colours,
                 int line_width) {
  if (texts.empty()) return;
  const int lw = resolve(line_width, image);
  const int row = label_size("Ag", lw).height;
  const int swatch = row - 2 * kPad;
  // As many rows as fit the height; the last shown row counts the rest when some are left out.
  size_t shown = texts.size();
  const size_t fit = static_cast<size_t>(std::max(image.rows / std::max(row, 1), 1));
  std::vector<std::string> lines(texts.begin(), texts.end());
  if (shown > fit) {
    shown = fit;
    lines.resize(shown);
    lines.back() = "+" + std::to_string(texts.size() - shown + 1) + " more";
  }
  int text_width = 0;
  for (const std::string& line : lines) text_width = std::max(text_width, label_size(line, lw).width);
  const int width = swatch + 2 * kPad + text_width;
  const int x = std::max(image.cols - width, 0);
  cv::rectangle(image, cv::Rect(x, 0, width, row * static_cast<int>(shown)), cv::Scalar(0, 0, 0), cv::FILLED);
  for (size_t i = 0; i < shown; ++i) {
    const int y = row * static_cast<int>(i);
    const bool more = texts.size() > shown && i + 1 == shown;
    if (!more) {  // outlined in grey, so a black class (VOC's background) shows on the black legend
      const cv::Rect square(x + kPad, y + kPad, swatch, swatch);
      cv::rectangle(image, square, colours[i], cv::FILLED);
      cv::rectangle(image, square, cv::Scalar(160, 160, 160), 1);
    }
    int baseline = 0;
    cv::getTextSize(lines[i], kFont, font_scale(lw), font_thickness(lw), &baseline);
    cv::putText(image, lines[i], cv::Point(x + swatch + 2 * kPad + kPad, y + row - kPad - baseline), kFont,
                font_scale(lw), cv::Scalar(255, 255, 255), font_thickness(lw), cv::LINE_AA);
  }
}

}  // namespace fastinfer
