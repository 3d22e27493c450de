#include "fastinfer/image_io.hpp"

#include <algorithm>
#include <fstream>
#include <iterator>
#include <vector>

#include <opencv2/imgcodecs.hpp>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

uint32_t big_endian(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = 0; i < bytes; ++i) v = (v << 8) | p[i];
  return v;
}

uint32_t little_endian(const uint8_t* p, int bytes) {
  uint32_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Header {
  bool known = false;  // the size could be read without decoding
  bool jpeg = false;
  uint64_t width = 0;
  uint64_t height = 0;
};

// The size an image file declares, from its header (PNG, JPEG, BMP).
Header read_header(const std::vector<uint8_t>& data) {
  Header h;
  const size_t n = data.size();
  const uint8_t* d = data.data();
  static const uint8_t png[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
  if (n >= 24 && std::equal(png, png + 8, d) && std::equal(d + 12, d + 16, "IHDR")) {
    h.known = true;
    h.width = big_endian(d + 16, 4);
    h.height = big_endian(d + 20, 4);
  } else if (n >= 4 && d[0] == 0xff && d[1] == 0xd8) {
    h.jpeg = true;
    // Walk the marker segments up to the first start-of-frame.
    size_t i = 2;
    while (i + 4 <= n) {
      if (d[i] != 0xff) break;
      const uint8_t marker = d[i + 1];
      if (marker == 0xff) {  // fill byte
        ++i;
        continue;
      }
      if (marker == 0x01 || (marker >= 0xd0 && marker <= 0xd7)) {  // no length
        i += 2;
        continue;
      }
      const size_t length = big_endian(d + i + 2, 2);
      const bool frame = marker >= 0xc0 && marker <= 0xcf && marker != 0xc4 && marker != 0xc8 && marker != 0xcc;
      if (frame && i + 9 <= n) {
        h.known = true;
        h.height = big_endian(d + i + 5, 2);
        h.width = big_endian(d + i + 7, 2);
        break;
      }
      if (marker == 0xda || length < 2) break;  // start of scan: no frame header before it
      i += 2 + length;
    }
  } else if (n >= 26 && d[0] == 'B' && d[1] == 'M') {
    h.known = true;
    h.width = little_endian(d + 18, 4);
    const int32_t height = static_cast<int32_t>(little_endian(d + 22, 4));
    h.height = height < 0 ? -static_cast<int64_t>(height) : height;
  }
  return h;
}

// A JPEG is complete when an end-of-image marker follows its last
// start-of-scan (the entropy-coded data cannot contain either: 0xff is
// stuffed there).
bool jpeg_complete(const std::vector<uint8_t>& data) {
  size_t last_scan = 0;
  for (size_t i = data.size(); i-- > 1;) {
    if (data[i - 1] == 0xff && data[i] == 0xda) {
      last_scan = i;
      break;
    }
  }
  if (last_scan == 0) return false;
  for (size_t i = last_scan + 1; i + 1 < data.size(); ++i) {
    if (data[i] == 0xff && data[i + 1] == 0xd9) return true;
  }
  return false;
}

std::string pixel_limit_message(const std::string& path, uint64_t width, uint64_t height, uint64_t limit) {
  return "image '" + path + "' is " + std::to_string(width) + "x" + std::to_string(height) + " (" +
         std::to_string(width * height) + " pixels), more than the limit of " + std::to_string(limit) +
         " pixels; raise the limit (max_pixels=, fastinfer.images.MAX_IMAGE_PIXELS or "
         "$FASTINFER_MAX_IMAGE_PIXELS) to read it";
}

}  // namespace

ImageReadResult read_image(const std::string& path, const ImageReadOptions& options) {
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw InvalidInputError("cannot open image '" + path + "'");
  const std::streamoff size = file.tellg();
  if (size <= 0) throw InvalidInputError("image file '" + path + "' is empty");
  std::vector<uint8_t> data(static_cast<size_t>(size));
  file.seekg(0);
  if (!file.read(reinterpret_cast<char*>(data.data()), size)) {
    throw InvalidInputError("cannot read image '" + path + "'");
  }
  const Header header = read_header(data);
  if (header.known && options.max_pixels && header.width * header.height > options.max_pixels) {
    throw InvalidInputError(pixel_limit_message(path, header.width, header.height, options.max_pixels));
  }
  ImageReadResult result;
  result.truncated = header.jpeg && !jpeg_complete(data);
  if (result.truncated && options.strict) {
    throw InvalidInputError("image '" + path + "' is truncated: the JPEG data ends before its end-of-image "
                            "marker (a partial download or copy?)");
  }
  try {
    result.image = cv::imdecode(data, cv::IMREAD_COLOR);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot decode image '" + path + "': " + e.what());
  }
  if (result.image.empty()) {
    throw InvalidInputError("cannot decode image '" + path + "': not an image, or a format OpenCV cannot read");
  }
  const uint64_t pixels = static_cast<uint64_t>(result.image.cols) * result.image.rows;
  if (options.max_pixels && pixels > options.max_pixels) {  // a format whose header is not read above
    throw InvalidInputError(pixel_limit_message(path, result.image.cols, result.image.rows, options.max_pixels));
  }
  return result;
}

cv::Mat read_image(const std::string& path) {
  ImageReadOptions options;
  options.strict = true;
  return read_image(path, options).image;
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
