// Backend on OpenCV's DNN module (readNetFromDarknet / readNetFromONNX).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <opencv2/dnn.hpp>

#include "fastinfer/backend.hpp"

namespace fastinfer {

class OpenCVDnnBackend : public Backend {
 public:
  // Checks the cfg and the weights' size first, so a bad file is a clear
  // ModelLoadError rather than whatever the importer makes of it.
  static std::unique_ptr<OpenCVDnnBackend> from_darknet(const std::string& cfg_path,
                                                        const std::string& weights_path);
  static std::unique_ptr<OpenCVDnnBackend> from_onnx(const std::string& onnx_path);

  std::vector<Tensor> forward(const float* blob, const std::vector<int>& shape) override;
  std::string name() const override { return "opencv"; }
  std::vector<std::string> output_names() const override { return output_names_; }

 private:
  OpenCVDnnBackend(cv::dnn::Net net, std::string source, std::vector<int64_t> input_dims = {});

  // cv::dnn::Net keeps per-call state (inputs, blobs), so calls are serialised.
  std::mutex mutex_;
  cv::dnn::Net net_;
  std::vector<std::string> output_names_;
  std::string source_;
  std::vector<int64_t> input_dims_;  // an ONNX model's declared input (-1: any); empty for Darknet
};

}  // namespace fastinfer
