#include "fastinfer/preprocess.hpp"

#include <cmath>
#include <sstream>

#include <opencv2/imgproc.hpp>

#include "fastinfer/errors.hpp"

namespace fastinfer {

ResizeMode parse_resize_mode(const std::string& name) {
  if (name == "stretch") return ResizeMode::kStretch;
  if (name == "crop") return ResizeMode::kCrop;
  if (name == "letterbox") return ResizeMode::kLetterbox;
  throw InvalidInputError("resize mode must be 'stretch', 'crop' or 'letterbox', got '" + name + "'");
}

const char* resize_mode_name(ResizeMode mode) {
  switch (mode) {
    case ResizeMode::kStretch: return "stretch";
    case ResizeMode::kCrop: return "crop";
    case ResizeMode::kLetterbox: return "letterbox";
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
  cv::Mat pixels;  // CV_8UC3, exactly the size it covers in the input
  int offset_x = 0;
  int offset_y = 0;
  Transform transform;
};

Placement place(const cv::Mat& image, const BlobParams& p) {
  Placement out;
  const int iw = image.cols;
  const int ih = image.rows;
  out.transform.image_width = iw;
  out.transform.image_height = ih;
  switch (p.mode) {
    case ResizeMode::kStretch: {
      if (iw == p.width && ih == p.height) {
        out.pixels = image;
      } else {
        cv::resize(image, out.pixels, cv::Size(p.width, p.height), 0, 0, cv::INTER_LINEAR);
      }
      out.transform.scale_x = static_cast<float>(p.width) / iw;
      out.transform.scale_y = static_cast<float>(p.height) / ih;
      break;
    }
    case ResizeMode::kCrop: {
      // Same arithmetic as cv::dnn::blobFromImage(..., crop=true): scale so the
      // image covers the input, then cut the centre.
      cv::Mat resized = image;
      float factor = 1.f;
      if (iw != p.width || ih != p.height) {
        factor = std::max(p.width / static_cast<float>(iw), p.height / static_cast<float>(ih));
        cv::resize(image, resized, cv::Size(), factor, factor, cv::INTER_LINEAR);
      }
      const int cx = (resized.cols - p.width) / 2;
      const int cy = (resized.rows - p.height) / 2;
      out.pixels = resized(cv::Rect(cx, cy, p.width, p.height));
      out.transform.scale_x = factor;
      out.transform.scale_y = factor;
      out.transform.pad_x = static_cast<float>(-cx);
      out.transform.pad_y = static_cast<float>(-cy);
      break;
    }
    case ResizeMode::kLetterbox: {
      // Darknet's letterbox_image: integer new size, image centred.
      int new_w = p.width;
      int new_h = p.height;
      if (static_cast<float>(p.width) / iw < static_cast<float>(p.height) / ih) {
        new_h = static_cast<int>((static_cast<long long>(ih) * p.width) / iw);
      } else {
        new_w = static_cast<int>((static_cast<long long>(iw) * p.height) / ih);
      }
      new_w = std::max(new_w, 1);
      new_h = std::max(new_h, 1);
      if (new_w == iw && new_h == ih) {
        out.pixels = image;
      } else {
        cv::resize(image, out.pixels, cv::Size(new_w, new_h), 0, 0, cv::INTER_LINEAR);
      }
      out.offset_x = (p.width - new_w) / 2;
      out.offset_y = (p.height - new_h) / 2;
      out.transform.scale_x = static_cast<float>(new_w) / iw;
      out.transform.scale_y = static_cast<float>(new_h) / ih;
      out.transform.pad_x = static_cast<float>(out.offset_x);
      out.transform.pad_y = static_cast<float>(out.offset_y);
      break;
    }
  }
  return out;
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
    if (image.empty() || image.type() != CV_8UC3) {
      throw InvalidInputError("image " + std::to_string(n) + " must be a non-empty 3-channel uint8 image");
    }
  }
  std::vector<Transform> transforms(images.size());
  // Images of a batch are independent; an exception must not leave a worker.
  std::string failure;
  cv::Mutex failure_lock;
  cv::parallel_for_(cv::Range(0, static_cast<int>(images.size())), [&](const cv::Range& range) {
    for (int n = range.start; n < range.end; ++n) try {
      const cv::Mat& image = images[n];
      Placement placed = place(image, p);
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
