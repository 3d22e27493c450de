#include "fastinfer/preprocess.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "fastinfer/darknet_resize.hpp"
#include "fastinfer/errors.hpp"

namespace fastinfer {

ResizeMode parse_resize_mode(const std::string& name) {
  if (name == "stretch") return ResizeMode::kStretch;
  if (name == "crop") return ResizeMode::kCrop;
  if (name == "letterbox") return ResizeMode::kLetterbox;
  if (name == "pad_resize") return ResizeMode::kPadResize;
  if (name == "resize_crop") return ResizeMode::kResizeCrop;
  if (name == "darknet_letterbox") return ResizeMode::kDarknetLetterbox;
  throw InvalidInputError("resize mode must be 'stretch', 'crop' or 'letterbox', got '" + name +
                          "' (or 'pad_resize': pad to the input's aspect ratio, then stretch; or 'resize_crop': "
                          "shorter side to `resize`, then a centre crop; or 'darknet_letterbox': Darknet's own "
                          "letterbox and resize)");
}

const char* resize_mode_name(ResizeMode mode) {
  switch (mode) {
    case ResizeMode::kStretch: return "stretch";
    case ResizeMode::kCrop: return "crop";
    case ResizeMode::kLetterbox: return "letterbox";
    case ResizeMode::kPadResize: return "pad_resize";
    case ResizeMode::kResizeCrop: return "resize_crop";
    case ResizeMode::kDarknetLetterbox: return "darknet_letterbox";
  }
  return "?";
}

LetterboxSizing parse_letterbox_sizing(const std::string& name) {
  if (name == "darknet") return LetterboxSizing::kDarknet;
  if (name == "floor") return LetterboxSizing::kFloor;
  if (name == "round") return LetterboxSizing::kRound;
  throw InvalidInputError("letterbox sizing must be 'darknet', 'floor' or 'round', got '" + name + "'");
}

const char* letterbox_sizing_name(LetterboxSizing sizing) {
  switch (sizing) {
    case LetterboxSizing::kDarknet: return "darknet";
    case LetterboxSizing::kFloor: return "floor";
    case LetterboxSizing::kRound: return "round";
  }
  return "?";
}

void BlobParams::validate() const {
  if (width <= 0 || height <= 0) {
    std::ostringstream msg;
    msg << "input size must be positive, got " << width << "x" << height;
    throw InvalidInputError(msg.str());
  }
  if (!std::isfinite(scale) || scale == 0.0) {
    throw InvalidInputError("scale factor must be finite and non-zero, got " + std::to_string(scale));
  }
  for (int c = 0; c < 3; ++c) {
    if (!std::isfinite(mean[c])) throw InvalidInputError("mean values must be finite");
    if (!std::isfinite(std[c]) || std[c] == 0.0) {
      throw InvalidInputError("std values must be finite and non-zero, got " + std::to_string(std[c]) +
                              " for channel " + std::to_string(c));
    }
  }
  if (!std::isfinite(pad_value)) throw InvalidInputError("pad value must be finite");
  if (mode == ResizeMode::kResizeCrop && resize < std::max(width, height)) {
    std::ostringstream msg;
    msg << "resize_crop scales the shorter side to `resize`, which must be at least the input size's larger side "
        << std::max(width, height) << " (input " << width << "x" << height << "), got " << resize;
    throw InvalidInputError(msg.str());
  }
  if (mode != ResizeMode::kResizeCrop && resize != 0) {
    throw InvalidInputError(std::string("resize is for mode 'resize_crop' only, got resize=") +
                            std::to_string(resize) + " with mode '" + resize_mode_name(mode) + "'");
  }
  if (mode == ResizeMode::kDarknetLetterbox && sizing != LetterboxSizing::kDarknet) {
    throw InvalidInputError(std::string("mode 'darknet_letterbox' sizes the image as Darknet does: sizing must be "
                                        "'darknet', got '") + letterbox_sizing_name(sizing) + "'");
  }
  if (mode == ResizeMode::kPadResize && !(pad_value >= 0 && pad_value <= 255 && pad_value == std::floor(pad_value))) {
    throw InvalidInputError("pad_resize pads the uint8 image before resizing: pad value must be an integer in "
                            "[0, 255], got " + std::to_string(pad_value));
  }
}

cv::Mat to_bgr(const cv::Mat& image) {
  if (image.channels() == 3) return image;
  cv::Mat bgr;
  if (image.channels() == 1) {
    cv::cvtColor(image, bgr, cv::COLOR_GRAY2BGR);
  } else if (image.channels() == 4) {
    cv::cvtColor(image, bgr, cv::COLOR_BGRA2BGR);
  } else {
    throw InvalidInputError("image must have 1, 3 or 4 channels, got " + std::to_string(image.channels()));
  }
  return bgr;
}

namespace {

// Places one resized image (or its crop) in the network input, and says where.
struct Placement {
  cv::Mat pixels;  // uint8, 1, 3 or 4 channels, exactly the size it covers in the input
  int offset_x = 0;
  int offset_y = 0;
  Transform transform;
};

// `image` resized to exactly width x height (bilinear, OpenCV's or PIL's), or
// itself when it already has that size. With PIL's, a non-empty `roi` of the
// result is all that is computed (and returned).
cv::Mat stretched(const cv::Mat& image, int width, int height, Resample resample, const cv::Rect& roi = cv::Rect()) {
  if (image.cols == width && image.rows == height) return roi.empty() ? image : image(roi);
  if (resample == Resample::kPil) return resize_pil(image, width, height, roi);
  cv::Mat out;
  cv::resize(image, out, cv::Size(width, height), 0, 0, cv::INTER_LINEAR);
  return roi.empty() ? out : out(roi);
}

// Darknet's letterbox_image sizes: the limiting side fills the input, the
// other is floor(side * input / limiting side) in integers.
cv::Size darknet_letterbox_size(int iw, int ih, int width, int height) {
  int new_w = width;
  int new_h = height;
  if (static_cast<float>(width) / iw < static_cast<float>(height) / ih) {
    new_h = static_cast<int>((static_cast<long long>(ih) * width) / iw);
  } else {
    new_w = static_cast<int>((static_cast<long long>(iw) * height) / ih);
  }
  return cv::Size(std::max(new_w, 1), std::max(new_h, 1));
}

Placement place(const cv::Mat& image, const BlobParams& p) {
  Placement out;
  const int iw = image.cols;
  const int ih = image.rows;
  out.transform.image_width = iw;
  out.transform.image_height = ih;
  switch (p.mode) {
    case ResizeMode::kStretch: {
      out.pixels = stretched(image, p.width, p.height, p.resample);
      out.transform.scale_x = static_cast<float>(p.width) / iw;
      out.transform.scale_y = static_cast<float>(p.height) / ih;
      break;
    }
    case ResizeMode::kCrop: {
      // Same arithmetic as cv::dnn::blobFromImage(..., crop=true): scale so the
      // image covers the input, then cut the centre (or the top-left).
      cv::Mat resized = image;
      float factor = 1.f;
      if (iw != p.width || ih != p.height) {
        factor = std::max(p.width / static_cast<float>(iw), p.height / static_cast<float>(ih));
        if (p.resample == Resample::kCv2) {
          cv::resize(image, resized, cv::Size(), factor, factor, cv::INTER_LINEAR);
        } else {
          // PIL's filter at the size cv::resize computes from the factor (rounded products).
          const int rw = cvRound(iw * static_cast<double>(factor));
          const int rh = cvRound(ih * static_cast<double>(factor));
          const int cx = p.center ? (rw - p.width) / 2 : 0;
          const int cy = p.center ? (rh - p.height) / 2 : 0;
          out.pixels = resize_pil(image, rw, rh, cv::Rect(cx, cy, p.width, p.height));
          out.transform.scale_x = factor;
          out.transform.scale_y = factor;
          out.transform.pad_x = static_cast<float>(-cx);
          out.transform.pad_y = static_cast<float>(-cy);
          break;
        }
      }
      const int cx = p.center ? (resized.cols - p.width) / 2 : 0;
      const int cy = p.center ? (resized.rows - p.height) / 2 : 0;
      out.pixels = resized(cv::Rect(cx, cy, p.width, p.height));
      out.transform.scale_x = factor;
      out.transform.scale_y = factor;
      out.transform.pad_x = static_cast<float>(-cx);
      out.transform.pad_y = static_cast<float>(-cy);
      break;
    }
    case ResizeMode::kResizeCrop: {
      // torchvision's Resize(resize) then CenterCrop(height, width): the
      // longer side truncated, the crop offsets rounded half to even.
      const bool portrait = ih > iw;
      const int short_side = portrait ? iw : ih;
      const int long_side = portrait ? ih : iw;
      const int scaled_long = static_cast<int>(static_cast<double>(static_cast<long long>(p.resize) * long_side) /
                                               short_side);
      const int rw = portrait ? p.resize : scaled_long;
      const int rh = portrait ? scaled_long : p.resize;
      const int cx = p.center ? static_cast<int>(std::nearbyint((rw - p.width) / 2.0)) : 0;
      const int cy = p.center ? static_cast<int>(std::nearbyint((rh - p.height) / 2.0)) : 0;
      out.pixels = stretched(image, rw, rh, p.resample, cv::Rect(cx, cy, p.width, p.height));
      out.transform.scale_x = static_cast<float>(rw) / iw;
      out.transform.scale_y = static_cast<float>(rh) / ih;
      out.transform.pad_x = static_cast<float>(-cx);
      out.transform.pad_y = static_cast<float>(-cy);
      break;
    }
    case ResizeMode::kLetterbox: {
      int new_w = p.width;
      int new_h = p.height;
      float scale_x, scale_y;
      if (p.sizing == LetterboxSizing::kDarknet) {
        // Darknet's letterbox_image: integer sizes, per-axis scales.
        const cv::Size size = darknet_letterbox_size(iw, ih, p.width, p.height);
        new_w = size.width;
        new_h = size.height;
        scale_x = static_cast<float>(new_w) / iw;
        scale_y = static_cast<float>(new_h) / ih;
      } else {
        // One ratio in double, as YOLOX's preproc and Ultralytics' LetterBox
        // compute it; boxes map back with that ratio on both axes.
        const double r = std::min(static_cast<double>(p.height) / ih, static_cast<double>(p.width) / iw);
        const bool truncate = p.sizing == LetterboxSizing::kFloor;
        new_w = std::max(static_cast<int>(truncate ? iw * r : std::nearbyint(iw * r)), 1);
        new_h = std::max(static_cast<int>(truncate ? ih * r : std::nearbyint(ih * r)), 1);
        new_w = std::min(new_w, p.width);
        new_h = std::min(new_h, p.height);
        scale_x = scale_y = static_cast<float>(r);
      }
      out.pixels = stretched(image, new_w, new_h, p.resample);
      out.offset_x = p.center ? (p.width - new_w) / 2 : 0;
      out.offset_y = p.center ? (p.height - new_h) / 2 : 0;
      out.transform.scale_x = scale_x;
      out.transform.scale_y = scale_y;
      out.transform.pad_x = static_cast<float>(out.offset_x);
      out.transform.pad_y = static_cast<float>(out.offset_y);
      break;
    }
    case ResizeMode::kDarknetLetterbox:
      throw InvalidInputError("darknet_letterbox is placed by darknet_place");  // make_blob's own path
    case ResizeMode::kPadResize: {
      // Pad to the input's aspect ratio (the smallest such canvas holding the
      // image), then stretch the canvas to the input size.
      const long long W = p.width, H = p.height;
      const int canvas_w = static_cast<int>(std::max<long long>(iw, (ih * W + H - 1) / H));
      const int canvas_h = static_cast<int>(std::max<long long>(ih, (iw * H + W - 1) / W));
      const int left = p.center ? (canvas_w - iw) / 2 : 0;
      const int top = p.center ? (canvas_h - ih) / 2 : 0;
      cv::Mat canvas;
      cv::copyMakeBorder(image, canvas, top, canvas_h - ih - top, left, canvas_w - iw - left, cv::BORDER_CONSTANT,
                         cv::Scalar::all(p.pad_value));
      out.pixels = stretched(canvas, p.width, p.height, p.resample);
      out.transform.scale_x = static_cast<float>(p.width) / canvas_w;
      out.transform.scale_y = static_cast<float>(p.height) / canvas_h;
      out.transform.pad_x = left * out.transform.scale_x;
      out.transform.pad_y = top * out.transform.scale_y;
      break;
    }
  }
  return out;
}

// Darknet's letterbox_image into one image's planes: floats byte / 255,
// Darknet's resize, the padding, then mean/scale/std in those units (nothing
// at all for mean 0, scale / std 1 / 255, so the values stay Darknet's).
Transform darknet_place(const cv::Mat& image, const BlobParams& p, float* const planes[3]) {
  Transform t;
  t.image_width = image.cols;
  t.image_height = image.rows;
  const cv::Size size = darknet_letterbox_size(image.cols, image.rows, p.width, p.height);
  const cv::Mat resized = darknet_resize(darknet_image(to_bgr(image)), size.width, size.height);
  const int ox = p.center ? (p.width - size.width) / 2 : 0;
  const int oy = p.center ? (p.height - size.height) / 2 : 0;
  t.scale_x = static_cast<float>(size.width) / image.cols;
  t.scale_y = static_cast<float>(size.height) / image.rows;
  t.pad_x = static_cast<float>(ox);
  t.pad_y = static_cast<float>(oy);
  const size_t plane = static_cast<size_t>(p.width) * p.height;
  for (int c = 0; c < 3; ++c) {
    const int src = p.swap_rb ? 2 - c : c;
    // px = 255 v: (px - mean) * scale / std = (v - mean / 255) * (255 scale / std).
    const float mean = static_cast<float>(p.mean[c] / 255.0);
    const float factor = static_cast<float>(p.scale * 255.0 / p.std[c]);
    const bool identity = mean == 0.f && factor == 1.f;
    const float pad = static_cast<float>(p.pad_value / 255.0);
    const float pad_out = identity ? pad : (pad - mean) * factor;
    if (size.width != p.width || size.height != p.height) std::fill(planes[c], planes[c] + plane, pad_out);
    for (int y = 0; y < size.height; ++y) {
      const float* row = resized.ptr<float>(y) + src;
      float* dst = planes[c] + static_cast<size_t>(y + oy) * p.width + ox;
      if (identity) {
        for (int x = 0; x < size.width; ++x) dst[x] = row[3 * x];
      } else {
        for (int x = 0; x < size.width; ++x) dst[x] = (row[3 * x] - mean) * factor;
      }
    }
  }
  return t;
}

}  // namespace

std::vector<Transform> make_blob(const std::vector<cv::Mat>& images, const BlobParams& p, float* out) {
  p.validate();
  const size_t plane = static_cast<size_t>(p.width) * p.height;
  // Per output channel: source channel, mean and factor, computed in float as
  // cv::dnn::blobFromImage does: (float(px) - float(mean)) * float(scale / std).
  int src_channel[3];
  float mean[3];
  float factor[3];
  float pad[3];
  for (int c = 0; c < 3; ++c) {
    src_channel[c] = p.swap_rb ? 2 - c : c;
    mean[c] = static_cast<float>(p.mean[c]);
    factor[c] = static_cast<float>(p.scale / p.std[c]);
    pad[c] = (static_cast<float>(p.pad_value) - mean[c]) * factor[c];
  }

  for (size_t n = 0; n < images.size(); ++n) {
    const cv::Mat& image = images[n];
    if (image.empty() || image.depth() != CV_8U || (image.channels() != 1 && image.channels() != 3 &&
                                                     image.channels() != 4)) {
      throw InvalidInputError("image " + std::to_string(n) + " must be a non-empty 1-, 3- or 4-channel uint8 image");
    }
  }
  std::vector<Transform> transforms(images.size());
  // Images of a batch are independent; an exception must not leave a worker.
  std::string failure;
  cv::Mutex failure_lock;
  cv::parallel_for_(cv::Range(0, static_cast<int>(images.size())), [&](const cv::Range& range) {
    for (int n = range.start; n < range.end; ++n) try {
      const cv::Mat& image = images[n];
      if (p.mode == ResizeMode::kDarknetLetterbox) {
        float* planes[3];
        for (int c = 0; c < 3; ++c) planes[c] = out + (static_cast<size_t>(n) * 3 + c) * plane;
        transforms[n] = darknet_place(image, p, planes);
        continue;
      }
      Placement placed = place(image, p);
      // Grey and BGRA images become BGR after resizing, at the input's size rather than the image's.
      if (placed.pixels.channels() != 3) placed.pixels = to_bgr(placed.pixels);
      transforms[n] = placed.transform;
      float* planes[3];
      for (int c = 0; c < 3; ++c) planes[c] = out + (static_cast<size_t>(n) * 3 + c) * plane;
      const bool padded = placed.pixels.cols != p.width || placed.pixels.rows != p.height;
      if (padded) {
        for (int c = 0; c < 3; ++c) std::fill(planes[c], planes[c] + plane, pad[c]);
      }
      for (int y = 0; y < placed.pixels.rows; ++y) {
        const uint8_t* row = placed.pixels.ptr<uint8_t>(y);
        const size_t base = static_cast<size_t>(y + placed.offset_y) * p.width + placed.offset_x;
        for (int c = 0; c < 3; ++c) {
          float* dst = planes[c] + base;
          const uint8_t* src = row + src_channel[c];
          const float m = mean[c];
          const float f = factor[c];
          for (int x = 0; x < placed.pixels.cols; ++x) dst[x] = (static_cast<float>(src[3 * x]) - m) * f;
        }
      }
    } catch (const std::exception& e) {
      cv::AutoLock lock(failure_lock);
      failure = "image " + std::to_string(n) + ": " + e.what();
    }
  });
  if (!failure.empty()) throw InvalidInputError("blob creation failed for " + failure);
  return transforms;
}

}  // namespace fastinfer
