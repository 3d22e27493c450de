#include "fastinfer/video_io.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <cstdlib>
#include <fstream>
#include <mutex>

#include <opencv2/core/utils/logger.hpp>
#include <opencv2/videoio/registry.hpp>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

std::string lower_extension(const std::string& path) {
  const size_t dot = path.find_last_of('.');
  const size_t slash = path.find_last_of("/\\");
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot);
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext;
}

// Opening a capture makes OpenCV's videoio try its backends in turn, and each
// one that cannot take the source (or, in a wheel, a plugin it does not ship)
// logs a [ WARN] or [ERROR] line on stderr before fastinfer's own message
// says what failed. While one is held, OpenCV's log is silent; the level
// before the first one is restored when the last one ends (several threads
// may open at once). $OPENCV_LOG_LEVEL, when set, is left to decide.
class QuietOpenCvLog {
 public:
  QuietOpenCvLog() : active_(std::getenv("OPENCV_LOG_LEVEL") == nullptr) {
    if (!active_) return;
    std::lock_guard<std::mutex> lock(mutex());
    if (depth()++ == 0) saved() = cv::utils::logging::setLogLevel(cv::utils::logging::LOG_LEVEL_SILENT);
  }
  ~QuietOpenCvLog() {
    if (!active_) return;
    std::lock_guard<std::mutex> lock(mutex());
    if (--depth() == 0) cv::utils::logging::setLogLevel(saved());
  }
  QuietOpenCvLog(const QuietOpenCvLog&) = delete;
  QuietOpenCvLog& operator=(const QuietOpenCvLog&) = delete;

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static int& depth() {
    static int d = 0;
    return d;
  }
  static cv::utils::logging::LogLevel& saved() {
    static cv::utils::logging::LogLevel level = cv::utils::logging::LOG_LEVEL_WARNING;
    return level;
  }
  bool active_;
};

}  // namespace

VideoReader::VideoReader(const std::string& path) : name_("'" + path + "'") {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw InvalidInputError("video '" + path + "' is a folder, not a file");
  std::ifstream file(path, std::ios::binary | std::ios::ate);
  if (!file) throw InvalidInputError("cannot open video '" + path + "': no such file or not readable");
  if (file.tellg() == 0) throw InvalidInputError("video file '" + path + "' is empty");
  // FFmpeg reads every common container; trying it alone keeps the other
  // backends (GStreamer, image sequences) from logging their own failures.
  const QuietOpenCvLog quiet;
  const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY;
  try {
    capture_.open(path, api);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot open video '" + path + "': " + e.what());
  }
  if (!capture_.isOpened()) {
    throw InvalidInputError("cannot open video '" + path + "': not a video, or a format OpenCV's videoio (" +
                            std::string(CV_VERSION) + ") cannot decode");
  }
  describe();
}

VideoReader::VideoReader(int camera) : name_("camera " + std::to_string(camera)) {
  if (camera < 0) throw InvalidInputError("camera index must be >= 0, got " + std::to_string(camera));
  const QuietOpenCvLog quiet;
  try {
    capture_.open(camera, cv::CAP_ANY);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot open camera " + std::to_string(camera) + ": " + e.what());
  }
  if (!capture_.isOpened()) {
    throw InvalidInputError("cannot open camera " + std::to_string(camera) + ": no such device, or it is busy");
  }
  describe();
}

void VideoReader::describe() {
  backend_ = capture_.getBackendName();
  fps_ = capture_.get(cv::CAP_PROP_FPS);
  if (!std::isfinite(fps_) || fps_ < 0) fps_ = 0;
  width_ = static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_WIDTH));
  height_ = static_cast<int>(capture_.get(cv::CAP_PROP_FRAME_HEIGHT));
  const double count = capture_.get(cv::CAP_PROP_FRAME_COUNT);
  frame_count_ = std::isfinite(count) && count > 0 ? static_cast<int64_t>(count) : -1;
}

bool VideoReader::read(cv::Mat& frame) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (!capture_.isOpened()) return false;
  cv::Mat decoded;  // a fresh buffer per frame: callers keep frames around
  try {
    if (!capture_.read(decoded) || decoded.empty()) return false;
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot decode a frame of " + name_ + ": " + e.what());
  }
  if (decoded.type() != CV_8UC3) {
    throw InvalidInputError(name_ + " decodes to frames of OpenCV type " + std::to_string(decoded.type()) +
                            ", expected BGR uint8 (CV_8UC3 = " + std::to_string(CV_8UC3) + ")");
  }
  frame = decoded;
  return true;
}

void VideoReader::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  capture_.release();
}

VideoWriter::VideoWriter(const std::string& path, double fps, int width, int height, const std::string& fourcc)
    : path_(path), fourcc_(fourcc), width_(width), height_(height) {
  if (!(fps > 0) || !std::isfinite(fps)) {
    throw InvalidInputError("video fps must be positive, got " + std::to_string(fps));
  }
  if (width <= 0 || height <= 0) {
    throw InvalidInputError("video size must be positive, got " + std::to_string(width) + "x" +
                            std::to_string(height));
  }
  if (fourcc_.empty()) fourcc_ = lower_extension(path) == ".avi" ? "MJPG" : "mp4v";
  if (fourcc_.size() != 4) {
    throw InvalidInputError("fourcc must be four characters such as 'mp4v' or 'MJPG', got '" + fourcc_ + "'");
  }
  const int code = cv::VideoWriter::fourcc(fourcc_[0], fourcc_[1], fourcc_[2], fourcc_[3]);
  bool opened = false;
  const QuietOpenCvLog quiet;
  try {
    const int api = cv::videoio_registry::hasBackend(cv::CAP_FFMPEG) ? cv::CAP_FFMPEG : cv::CAP_ANY;
    opened = writer_.open(path, api, code, fps, cv::Size(width, height), true);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot write video '" + path + "': " + e.what());
  }
  if (!opened) {
    throw InvalidInputError("cannot write video '" + path + "' with codec '" + fourcc_ +
                            "' (unknown extension, unsupported codec or unwritable folder)");
  }
}

void VideoWriter::write(const cv::Mat& frame) {
  if (frame.type() != CV_8UC3 || frame.cols != width_ || frame.rows != height_) {
    throw InvalidInputError("frames of video '" + path_ + "' must be " + std::to_string(width_) + "x" +
                            std::to_string(height_) + " BGR uint8, got " + std::to_string(frame.cols) + "x" +
                            std::to_string(frame.rows) + " with " + std::to_string(frame.channels()) +
                            " channel(s)");
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (!writer_.isOpened()) throw InvalidInputError("video '" + path_ + "' is closed");
  try {
    writer_.write(frame);
  } catch (const cv::Exception& e) {
    throw InvalidInputError("cannot write a frame to video '" + path_ + "': " + e.what());
  }
  ++written_;
}

void VideoWriter::release() {
  std::lock_guard<std::mutex> lock(mutex_);
  writer_.release();
}

}  // namespace fastinfer
