// Blob creation: images -> one NCHW float32 batch, and the record that maps
// network-input coordinates back to each original image.
#pragma once

#include <array>
#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "fastinfer/resample.hpp"

namespace fastinfer {

// kStretch: resize to the input size, ignoring the aspect ratio.
// kCrop: scale to cover the input, then cut (cv::dnn::blobFromImage crop=true).
// kLetterbox: scale to fit inside the input, then pad the rest.
// kPadResize: pad the image to the input's aspect ratio first (pad_value),
//   then stretch the padded image to the input size (NudeNet). Not the same
//   pixels as kLetterbox: the resize blends the image's edge with the padding.
// kResizeCrop: the ImageNet evaluation pipeline (torchvision Resize(resize) +
//   CenterCrop): the shorter side scaled to `resize` (the longer one to
//   int(resize * long / short)), then the input size cut from the centre at
//   int(round((side - input) / 2.0)) (or from the top-left).
// kDarknetLetterbox: Darknet's own letterbox_image, to the bit: the image as
//   floats byte / 255, resized at kLetterbox's Darknet sizes with Darknet's
//   two-pass bilinear filter (darknet_resize.hpp), padded with pad_value
//   (127.5: Darknet's 0.5); then mean/std. The blob `darknet detect` feeds.
enum class ResizeMode { kStretch, kCrop, kLetterbox, kPadResize, kResizeCrop, kDarknetLetterbox };

ResizeMode parse_resize_mode(const std::string& name);
const char* resize_mode_name(ResizeMode mode);

// How kLetterbox sizes the resized image and maps boxes back.
// kDarknet: Darknet's letterbox_image: the limiting side fills the input, the
//   other is floor(side * input / limiting side) in integers; per-axis scales
//   new_size / old_size.
// kFloor: YOLOX's preproc (ddddocr): r = min(W / w, H / h) in double, resized
//   to int(w * r) x int(h * r); boxes map back with r on both axes.
// kRound: as kFloor with round-half-even sizes (Ultralytics' LetterBox).
enum class LetterboxSizing { kDarknet, kFloor, kRound };

LetterboxSizing parse_letterbox_sizing(const std::string& name);
const char* letterbox_sizing_name(LetterboxSizing sizing);

struct BlobParams {
  int width = 416;
  int height = 416;
  ResizeMode mode = ResizeMode::kStretch;
  bool swap_rb = true;
  double scale = 1.0 / 255.0;
  // Subtracted per output channel (after swapRB), in pixel units, as in
  // cv::dnn::blobFromImage.
  std::array<double, 3> mean{0.0, 0.0, 0.0};
  // Divides per output channel after scaling: out = (px - mean) * scale / std.
  std::array<double, 3> std{1.0, 1.0, 1.0};
  // Letterbox padding in pixel units (before mean/scale/std); 127.5 gives
  // Darknet's 0.5 grey for scale 1/255.
  // kPadResize draws the padding into the uint8 image, so it must then be an
  // integer in [0, 255].
  double pad_value = 127.5;
  // kLetterbox / kPadResize: image centred (Darknet, Ultralytics), or at the
  // top-left with all padding at the bottom/right (YOLOX, ddddocr, NudeNet).
  // kCrop / kResizeCrop: cut the centre, or the top-left. Ignored by kStretch.
  bool center = true;
  LetterboxSizing sizing = LetterboxSizing::kDarknet;  // kLetterbox only
  // kResizeCrop only (0 for the other modes): the shorter side's length
  // before the crop; at least max(width, height), so the crop always fits.
  int resize = 0;
  // How every mode resizes: OpenCV's bilinear (kCv2) or PIL's antialiased
  // bilinear (kPil, resample.hpp). Padding, crops and transforms are the same.
  Resample resample = Resample::kCv2;

  void validate() const;
};

// How one image was placed in the network input:
//   x_net = x_img * scale_x + pad_x,  y_net = y_img * scale_y + pad_y
// Crop mode has negative padding (the part cut off).
struct Transform {
  float scale_x = 1.f;
  float scale_y = 1.f;
  float pad_x = 0.f;
  float pad_y = 0.f;
  int image_width = 0;
  int image_height = 0;
};

// Writes the NCHW blob for `images` (each CV_8UC3, BGR) into `out`, which
// must hold images.size() * 3 * height * width floats. Returns one transform
// per image.
std::vector<Transform> make_blob(const std::vector<cv::Mat>& images, const BlobParams& params,
                                 float* out);

// Converts a grayscale (1 channel) or BGRA (4 channel) uint8 image to BGR;
// returns BGR input unchanged (no copy).
cv::Mat to_bgr(const cv::Mat& image);

}  // namespace fastinfer
