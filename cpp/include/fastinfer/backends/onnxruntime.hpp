// Backend on ONNX Runtime's C API. The library is not linked: it is loaded
// at run time (dlopen) from the path given to ort_load, normally the one the
// installed onnxruntime wheel ships, so any compatible version works and
// `import onnxruntime` in the same process does not clash.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "fastinfer/backend.hpp"

namespace fastinfer {

// Loads libonnxruntime once per process. Throws BackendUnavailableError when
// the file cannot be loaded or its API is older than the headers' version.
void ort_load(const std::string& library_path);
bool ort_loaded();
std::string ort_version();           // of the loaded library
int ort_api_version();               // requested: the headers' ORT_API_VERSION
std::vector<std::string> ort_available_providers();

struct OrtSessionConfig {
  int intra_op_threads = 0;  // 0: ONNX Runtime's default
  int inter_op_threads = 0;
  std::string graph_optimization = "all";  // disable | basic | extended | all
  // In priority order; CPUExecutionProvider is always added last.
  std::vector<std::string> providers;
  int device_id = 0;
};

struct TensorInfo {
  std::string name;
  std::vector<int64_t> shape;  // -1 for a dynamic dimension
  std::vector<std::string> dim_names;
  std::string type;  // "float32", "int64", ...
};

class OnnxRuntimeBackend : public Backend {
 public:
  static std::unique_ptr<OnnxRuntimeBackend> from_file(const std::string& onnx_path, const OrtSessionConfig& config);
  ~OnnxRuntimeBackend() override;

  std::vector<Tensor> forward(const float* blob, const std::vector<int>& shape) override;
  std::string name() const override { return "onnxruntime"; }
  std::vector<std::string> output_names() const override;

  const std::vector<TensorInfo>& inputs() const;
  const std::vector<TensorInfo>& outputs() const;
  const std::map<std::string, std::string>& metadata() const;
  const std::vector<std::string>& providers() const;

 private:
  struct Impl;
  explicit OnnxRuntimeBackend(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace fastinfer
