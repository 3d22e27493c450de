#include "fastinfer/darknet_resize.hpp"

#include <algorithm>
#include <array>
#include <vector>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

// float(byte / 255.0) for every byte: Darknet divides in double.
const std::array<float, 256>& byte_values() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int v = 0; v < 256; ++v) t[v] = static_cast<float>(v / 255.0);
    return t;
  }();
  return table;
}

// Source index and weight of each output position along one axis.
struct Taps {
  std::vector<int> index;
  std::vector<float> frac;
};

Taps taps(int in_len, int out_len) {
  Taps t;
  t.index.resize(out_len);
  t.frac.resize(out_len);
  if (out_len == 1) return t;  // Darknet divides by zero here; read the first pixel
  const float scale = static_cast<float>(in_len - 1) / static_cast<float>(out_len - 1);
  for (int i = 0; i < out_len; ++i) {
    const float s = static_cast<float>(i) * scale;
    const int ix = std::min(static_cast<int>(s), in_len - 1);
    t.index[i] = ix;
    t.frac[i] = s - static_cast<float>(ix);
  }
  return t;
}

}  // namespace

cv::Mat darknet_image(const cv::Mat& image) {
  if (image.empty() || image.type() != CV_8UC3) {
    throw InvalidInputError("Darknet's image conversion needs a non-empty 3-channel uint8 image");
  }
  const std::array<float, 256>& value = byte_values();
  cv::Mat out(image.rows, image.cols, CV_32FC3);
  for (int y = 0; y < image.rows; ++y) {
    const uint8_t* src = image.ptr<uint8_t>(y);
    float* dst = out.ptr<float>(y);
    for (int i = 0; i < 3 * image.cols; ++i) dst[i] = value[src[i]];
  }
  return out;
}

cv::Mat darknet_resize(const cv::Mat& image, int width, int height) {
  if (image.empty() || image.type() != CV_32FC3) {
    throw InvalidInputError("Darknet's resize needs a non-empty 3-channel float32 image");
  }
  if (width <= 0 || height <= 0) {
    throw InvalidInputError("Darknet's resize needs a positive size, got " + std::to_string(width) + "x" +
                            std::to_string(height));
  }
  if (image.cols == width && image.rows == height) return image;
  const int iw = image.cols;
  const int ih = image.rows;
  constexpr int C = 3;

  // Horizontal pass: every input row to `width` columns.
  const Taps tx = taps(iw, width);
  cv::Mat part(ih, width, CV_32FC3);
  for (int r = 0; r < ih; ++r) {
    const float* src = image.ptr<float>(r);
    float* dst = part.ptr<float>(r);
    for (int c = 0; c < width; ++c) {
      if (c == width - 1 || iw == 1) {
        for (int k = 0; k < C; ++k) dst[C * c + k] = src[C * (iw - 1) + k];
        continue;
      }
      const int ix = tx.index[c];
      const int next = std::min(ix + 1, iw - 1);
      const float dx = tx.frac[c];
      const float keep = 1.f - dx;
      for (int k = 0; k < C; ++k) {
        const float a = keep * src[C * ix + k];
        const float b = dx * src[C * next + k];
        dst[C * c + k] = a + b;
      }
    }
  }

  // Vertical pass: (1 - dy) * row iy, then + dy * row iy + 1 except on the last row.
  const Taps ty = taps(ih, height);
  cv::Mat out(height, width, CV_32FC3);
  for (int r = 0; r < height; ++r) {
    const int iy = ty.index[r];
    const float dy = ty.frac[r];
    const float keep = 1.f - dy;
    const float* top = part.ptr<float>(iy);
    float* dst = out.ptr<float>(r);
    const bool second = !(r == height - 1 || ih == 1);
    if (!second) {
      for (int i = 0; i < C * width; ++i) dst[i] = keep * top[i];
      continue;
    }
    const float* bottom = part.ptr<float>(std::min(iy + 1, ih - 1));
    for (int i = 0; i < C * width; ++i) {
      const float a = keep * top[i];
      const float b = dy * bottom[i];
      dst[i] = a + b;
    }
  }
  return out;
}

}  // namespace fastinfer
