#include "fastinfer/image_io.hpp"

#include <fstream>

#include <opencv2/imgcodecs.hpp>

#include "fastinfer/errors.hpp"

namespace fastinfer {

cv::Mat read_image(const std::string& path) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw InvalidInputError("cannot open image '" + path + "'");
  if (file.tellg() == 0) throw InvalidInputError("image file '" + path + "' is empty");
  cv::Mat image;
  try {
    image = cv::imread(path, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot decode image '" + path + "': " + e.what());
  }
  if (image.empty()) {
    throw InvalidInputError("cannot decode image '" + path + "': not an image, or a format OpenCV cannot read");
  }
  return image;
}

void write_image(const std::string& path, const cv::Mat& image) {
  bool ok = false;
  try {
    ok = cv::imwrite(path, image);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot write image '" + path + "': " + e.what());
  }
  if (!ok) throw InvalidInputError("cannot write image '" + path + "' (unknown extension or unwritable folder)");
}

}  // namespace fastinfer
