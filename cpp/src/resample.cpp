#include "fastinfer/resample.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>
#include <vector>

#include "fastinfer/errors.hpp"

namespace fastinfer {

Resample parse_resample(const std::string& name) {
  if (name == "cv2") return Resample::kCv2;
  if (name == "pil") return Resample::kPil;
  throw InvalidInputError("resample must be 'cv2' (OpenCV's bilinear resize) or 'pil' (PIL's and torchvision's "
                          "antialiased bilinear resize), got '" + name + "'");
}

const char* resample_name(Resample resample) {
  switch (resample) {
    case Resample::kCv2: return "cv2";
    case Resample::kPil: return "pil";
  }
  return "?";
}

namespace {

// Fixed point of the filter weights: 32 bits less 8 for the pixel and 2 for
// the sign and the headroom of a sum of products, as PIL's 8-bit resampler.
constexpr int kWeightBits = 22;
constexpr int32_t kHalf = int32_t{1} << (kWeightBits - 1);

// The taps of one axis for output pixels [begin, end): per output pixel the
// first source pixel, how many follow, and `width` fixed-point weights (zero
// past `count`).
struct AxisTaps {
  int width = 0;
  std::vector<int> first;
  std::vector<int> count;
  std::vector<int32_t> weights;
};

double triangle(double x) {
  x = std::abs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

AxisTaps axis_taps(int in_size, int out_size, int begin, int end) {
  // The arithmetic (in double, in this order) decides which source pixels a
  // tap reaches and how the weights round: it is PIL's.
  const double scale = static_cast<double>(in_size) / out_size;
  const double stretch = std::max(scale, 1.0);
  const double support = 1.0 * stretch;  // the triangle's half-width is 1
  const double inverse = 1.0 / stretch;
  AxisTaps taps;
  taps.width = static_cast<int>(std::ceil(support)) * 2 + 1;
  const int n = end - begin;
  taps.first.resize(n);
  taps.count.resize(n);
  taps.weights.assign(static_cast<size_t>(n) * taps.width, 0);
  std::vector<double> w(taps.width);
  for (int i = 0; i < n; ++i) {
    const double center = (begin + i + 0.5) * scale;
    // Truncation toward zero, then the clamp: the C conversion PIL relies on.
    const int lo = std::max(static_cast<int>(center - support + 0.5), 0);
    const int hi = std::min(static_cast<int>(center + support + 0.5), in_size);
    const int count = std::min(hi - lo, taps.width);
    double sum = 0.0;
    for (int k = 0; k < count; ++k) {
      w[k] = triangle((k + lo - center + 0.5) * inverse);
      sum += w[k];
    }
    int32_t* fixed = &taps.weights[static_cast<size_t>(i) * taps.width];
    for (int k = 0; k < count; ++k) {
      const double v = sum != 0.0 ? w[k] / sum : w[k];
      fixed[k] = static_cast<int32_t>(v < 0 ? -0.5 + v * (1 << kWeightBits) : 0.5 + v * (1 << kWeightBits));
    }
    taps.first[i] = lo;
    taps.count[i] = count;
  }
  return taps;
}

inline uint8_t to_pixel(int32_t sum) {
  return static_cast<uint8_t>(std::clamp(sum >> kWeightBits, 0, 255));
}

// Rows of `src` (column 0 being source column `src_first`) resampled along x
// into `dst` (same row count).
template <int C>
void horizontal(const cv::Mat& src, int src_first, cv::Mat& dst, const AxisTaps& taps) {
  const int out_w = dst.cols;
  cv::parallel_for_(cv::Range(0, dst.rows), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const uint8_t* in = src.ptr<uint8_t>(y);
      uint8_t* out = dst.ptr<uint8_t>(y);
      for (int x = 0; x < out_w; ++x) {
        const uint8_t* p = in + static_cast<size_t>(taps.first[x] - src_first) * C;
        const int32_t* w = &taps.weights[static_cast<size_t>(x) * taps.width];
        const int count = taps.count[x];
        int32_t sum[C];
        for (int c = 0; c < C; ++c) sum[c] = kHalf;
        for (int k = 0; k < count; ++k) {
          for (int c = 0; c < C; ++c) sum[c] += p[k * C + c] * w[k];
        }
        for (int c = 0; c < C; ++c) out[x * C + c] = to_pixel(sum[c]);
      }
    }
  }, dst.rows * static_cast<double>(out_w) * taps.width / 65536.0);
}

// Rows of `src` (row 0 being source row `src_first`) resampled along y into `dst`.
void vertical(const cv::Mat& src, int src_first, cv::Mat& dst, const AxisTaps& taps) {
  const int values = dst.cols * dst.channels();
  cv::parallel_for_(cv::Range(0, dst.rows), [&](const cv::Range& rows) {
    std::vector<int32_t> sum(values);
    for (int y = rows.start; y < rows.end; ++y) {
      std::fill(sum.begin(), sum.end(), kHalf);
      const int32_t* w = &taps.weights[static_cast<size_t>(y) * taps.width];
      for (int k = 0; k < taps.count[y]; ++k) {
        const uint8_t* in = src.ptr<uint8_t>(taps.first[y] - src_first + k);
        const int32_t weight = w[k];
        int32_t* s = sum.data();
        for (int i = 0; i < values; ++i) s[i] += in[i] * weight;
      }
      uint8_t* out = dst.ptr<uint8_t>(y);
      for (int i = 0; i < values; ++i) out[i] = to_pixel(sum[i]);
    }
  }, dst.rows * static_cast<double>(values) * taps.width / 65536.0);
}

void horizontal_any(const cv::Mat& src, int src_first, cv::Mat& dst, const AxisTaps& taps) {
  switch (src.channels()) {
    case 1: return horizontal<1>(src, src_first, dst, taps);
    case 2: return horizontal<2>(src, src_first, dst, taps);
    case 3: return horizontal<3>(src, src_first, dst, taps);
    default: return horizontal<4>(src, src_first, dst, taps);
  }
}

}  // namespace

cv::Mat resize_pil(const cv::Mat& image, int width, int height, const cv::Rect& roi) {
  if (image.empty() || image.depth() != CV_8U || image.channels() > 4) {
    throw InvalidInputError("resize_pil needs a non-empty uint8 image of 1 to 4 channels");
  }
  if (width <= 0 || height <= 0) {
    std::ostringstream msg;
    msg << "resize_pil: the output size must be positive, got " << width << "x" << height;
    throw InvalidInputError(msg.str());
  }
  const cv::Rect wanted = roi.empty() ? cv::Rect(0, 0, width, height) : roi;
  if ((wanted & cv::Rect(0, 0, width, height)) != wanted) {
    std::ostringstream msg;
    msg << "resize_pil: the region " << wanted << " is not inside the " << width << "x" << height << " result";
    throw InvalidInputError(msg.str());
  }
  const bool along_x = width != image.cols;
  const bool along_y = height != image.rows;
  if (!along_x && !along_y) return image(wanted).clone();
  AxisTaps taps_x, taps_y;
  int cols_first = wanted.x, cols_end = wanted.x + wanted.width;  // the source columns and rows the taps read
  int rows_first = wanted.y, rows_end = wanted.y + wanted.height;
  if (along_x) {
    taps_x = axis_taps(image.cols, width, wanted.x, wanted.x + wanted.width);
    cols_first = taps_x.first.front();
    cols_end = taps_x.first.back() + taps_x.count.back();
  }
  if (along_y) {
    taps_y = axis_taps(image.rows, height, wanted.y, wanted.y + wanted.height);
    rows_first = taps_y.first.front();
    rows_end = taps_y.first.back() + taps_y.count.back();
  }
  const cv::Mat source = image(cv::Range(rows_first, rows_end), cv::Range(cols_first, cols_end));
  // Pillow 13 resamples along y first when that removes more than twice as
  // many rows as the x pass removes columns (Pillow 12 and older: always x
  // first). The uint8 rounding between the passes makes the order matter by
  // one grey level here and there, so it is followed.
  const bool y_first = along_x && along_y && height < image.rows && image.rows - height > 2 * (image.cols - width);
  cv::Mat out(wanted.height, wanted.width, image.type());
  if (!along_y) {
    horizontal_any(source, cols_first, out, taps_x);
  } else if (!along_x) {
    vertical(source, rows_first, out, taps_y);
  } else if (y_first) {
    cv::Mat temp(wanted.height, source.cols, image.type());
    vertical(source, rows_first, temp, taps_y);
    horizontal_any(temp, cols_first, out, taps_x);
  } else {
    cv::Mat temp(source.rows, wanted.width, image.type());
    horizontal_any(source, cols_first, temp, taps_x);
    vertical(temp, rows_first, out, taps_y);
  }
  return out;
}

}  // namespace fastinfer
