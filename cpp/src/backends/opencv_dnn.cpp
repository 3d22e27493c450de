#include "fastinfer/backends/opencv_dnn.hpp"

#include "fastinfer/darknet_cfg.hpp"
#include "fastinfer/errors.hpp"
#include "fastinfer/onnx_model.hpp"

namespace fastinfer {

OpenCVDnnBackend::OpenCVDnnBackend(cv::dnn::Net net, std::string source, std::vector<int64_t> input_dims)
    : net_(std::move(net)), source_(std::move(source)), input_dims_(std::move(input_dims)) {
  net_.setPreferableBackend(cv::dnn::DNN_BACKEND_OPENCV);
  net_.setPreferableTarget(cv::dnn::DNN_TARGET_CPU);
  output_names_ = net_.getUnconnectedOutLayersNames();
}

std::unique_ptr<OpenCVDnnBackend> OpenCVDnnBackend::from_darknet(const std::string& cfg_path,
                                                                 const std::string& weights_path) {
  const DarknetCfg cfg = parse_darknet_cfg(cfg_path);
  check_darknet_weights(cfg, weights_path);
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromDarknet(cfg_path, weights_path);
  } catch (const cv::Exception& e) {
    throw ModelLoadError("OpenCV DNN could not read Darknet model '" + cfg_path + "': " + e.what());
  }
  if (net.empty()) throw ModelLoadError("OpenCV DNN read an empty network from '" + cfg_path + "'");
  return std::unique_ptr<OpenCVDnnBackend>(new OpenCVDnnBackend(std::move(net), cfg_path));
}

std::unique_ptr<OpenCVDnnBackend> OpenCVDnnBackend::from_onnx(const std::string& onnx_path) {
  const OnnxModelInfo model = read_onnx_model(onnx_path);
  check_onnx_image_model(model);
  if (!model.external_data.empty()) {
    // OpenCV's importer does not read them: it divides by zero on such files.
    throw ModelLoadError("ONNX model '" + onnx_path + "' keeps " + std::to_string(model.external_data.size()) +
                         " tensors in external data files (first: '" + model.external_data[0].location +
                         "'), which OpenCV DNN cannot read; use backend='onnxruntime'");
  }
  cv::dnn::Net net;
  try {
    net = cv::dnn::readNetFromONNX(onnx_path);
  } catch (const cv::Exception& e) {
    throw ModelLoadError("OpenCV DNN could not read ONNX model '" + onnx_path + "': " + e.what());
  }
  if (net.empty()) throw ModelLoadError("OpenCV DNN read an empty network from '" + onnx_path + "'");
  return std::unique_ptr<OpenCVDnnBackend>(new OpenCVDnnBackend(std::move(net), onnx_path, model.inputs[0].dims));
}

std::vector<Tensor> OpenCVDnnBackend::forward(const float* blob, const std::vector<int>& shape) {
  if (shape.size() != 4) throw InvalidInputError("the input blob must be NCHW (4 dimensions)");
  // OpenCV runs a blob of another shape without a word (a 1-channel model on 3 channels gave 0 detections).
  if (!input_dims_.empty()) check_blob_shape(source_, input_dims_, shape);
  // A header over the caller's buffer: setInput copies it into the network.
  const cv::Mat input(4, shape.data(), CV_32F, const_cast<float*>(blob));
  std::vector<cv::Mat> outputs;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    try {
      net_.setInput(input);
      net_.forward(outputs, output_names_);
    } catch (const cv::Exception& e) {
      throw BackendError("OpenCV DNN forward failed for '" + source_ + "': " + e.what());
    }
    // Outputs may alias the network's buffers, reused by the next call.
    for (cv::Mat& m : outputs) m = m.clone();
  }
  std::vector<Tensor> tensors(outputs.size());
  for (size_t i = 0; i < outputs.size(); ++i) {
    Tensor& t = tensors[i];
    t.name = output_names_[i];
    if (outputs[i].type() != CV_32F) outputs[i].convertTo(outputs[i], CV_32F);
    for (int d = 0; d < outputs[i].dims; ++d) t.shape.push_back(outputs[i].size[d]);
    auto holder = std::make_shared<cv::Mat>(outputs[i]);
    t.data = std::shared_ptr<const float>(holder, holder->ptr<float>());
  }
  return tensors;
}

}  // namespace fastinfer
