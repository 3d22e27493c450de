// Reading and writing videos (OpenCV videoio: FFmpeg, GStreamer, V4L2), with
// errors that name the file or camera.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include <opencv2/core.hpp>
#include <opencv2/videoio.hpp>

namespace fastinfer {

// Frames of a video file or a camera, in order, as BGR uint8 images.
// read() and release() may be called from different threads.
class VideoReader {
 public:
  // Throws InvalidInputError when the file is missing or no backend can
  // decode it.
  explicit VideoReader(const std::string& path);
  // A camera by index (VideoCapture(int)); throws InvalidInputError when it
  // cannot be opened.
  explicit VideoReader(int camera);

  // The next frame in a new Mat; false at the end of the stream (or after
  // release()).
  bool read(cv::Mat& frame);
  void release();

  const std::string& name() const { return name_; }  // "'clip.mp4'" or "camera 0"
  double fps() const { return fps_; }                // 0 when the source does not say
  int width() const { return width_; }
  int height() const { return height_; }
  int64_t frame_count() const { return frame_count_; }  // -1 when unknown (cameras, streams)
  std::string backend() const { return backend_; }

 private:
  void describe();

  std::mutex mutex_;
  cv::VideoCapture capture_;
  std::string name_;
  std::string backend_;
  double fps_ = 0;
  int width_ = 0;
  int height_ = 0;
  int64_t frame_count_ = -1;
};

// Writes BGR uint8 frames of one size to a video file.
class VideoWriter {
 public:
  // fourcc: four characters such as "mp4v" or "MJPG"; empty picks one from
  // the extension (MJPG for .avi, mp4v otherwise). Throws InvalidInputError
  // on bad arguments or when the file cannot be opened for writing.
  VideoWriter(const std::string& path, double fps, int width, int height, const std::string& fourcc = "");

  // Throws InvalidInputError when the frame is not a BGR image of the size
  // given at construction.
  void write(const cv::Mat& frame);
  void release();

  const std::string& path() const { return path_; }
  const std::string& fourcc() const { return fourcc_; }
  int64_t frames_written() const { return written_; }

 private:
  std::mutex mutex_;
  cv::VideoWriter writer_;
  std::string path_;
  std::string fourcc_;
  int width_ = 0;
  int height_ = 0;
  int64_t written_ = 0;
};

}  // namespace fastinfer
