#include "fastinfer/backends/onnxruntime.hpp"

#define ORT_API_MANUAL_INIT
#include <onnxruntime_cxx_api.h>

#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <mutex>

#include "fastinfer/errors.hpp"
#include "fastinfer/onnx_model.hpp"

namespace fastinfer {

namespace {

struct OrtRuntime {
  std::mutex mutex;
  void* handle = nullptr;
  const OrtApiBase* base = nullptr;
  std::unique_ptr<Ort::Env> env;
};

OrtRuntime& runtime() {
  // Never destroyed: sessions may outlive static destruction at exit.
  static OrtRuntime* instance = new OrtRuntime();
  return *instance;
}

void require_loaded() {
  if (!runtime().env) {
    throw BackendUnavailableError("ONNX Runtime is not loaded: install the onnxruntime package "
                                  "(pip install onnxruntime)");
  }
}

const char* type_name(ONNXTensorElementDataType type) {
  switch (type) {
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT: return "float32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16: return "float16";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_DOUBLE: return "float64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8: return "uint8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT8: return "int8";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32: return "int32";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64: return "int64";
    case ONNX_TENSOR_ELEMENT_DATA_TYPE_BOOL: return "bool";
    default: return "other";
  }
}

TensorInfo describe(const std::string& name, const Ort::TypeInfo& type_info) {
  TensorInfo info;
  info.name = name;
  if (type_info.GetONNXType() != ONNX_TYPE_TENSOR) {
    info.type = "non-tensor";
    return info;
  }
  auto tensor = type_info.GetTensorTypeAndShapeInfo();
  info.type = type_name(tensor.GetElementType());
  info.shape = tensor.GetShape();
  std::vector<const char*> symbolic(info.shape.size(), nullptr);
  if (!symbolic.empty()) tensor.GetSymbolicDimensions(symbolic.data(), symbolic.size());
  for (const char* s : symbolic) info.dim_names.emplace_back(s ? s : "");
  return info;
}

GraphOptimizationLevel optimization_level(const std::string& level) {
  if (level == "disable") return ORT_DISABLE_ALL;
  if (level == "basic") return ORT_ENABLE_BASIC;
  if (level == "extended") return ORT_ENABLE_EXTENDED;
  if (level == "all") return ORT_ENABLE_ALL;
  throw InvalidInputError("graph_optimization must be 'disable', 'basic', 'extended' or 'all', got '" + level + "'");
}

void append_provider(Ort::SessionOptions& options, const std::string& provider, int device_id) {
  const OrtApi& api = Ort::GetApi();
  const std::string device = std::to_string(device_id);
  if (provider == "CUDAExecutionProvider") {
    OrtCUDAProviderOptionsV2* cuda = nullptr;
    Ort::ThrowOnError(api.CreateCUDAProviderOptions(&cuda));
    std::unique_ptr<OrtCUDAProviderOptionsV2, decltype(api.ReleaseCUDAProviderOptions)> guard(
        cuda, api.ReleaseCUDAProviderOptions);
    const char* keys[] = {"device_id"};
    const char* values[] = {device.c_str()};
    Ort::ThrowOnError(api.UpdateCUDAProviderOptions(cuda, keys, values, 1));
    Ort::ThrowOnError(api.SessionOptionsAppendExecutionProvider_CUDA_V2(options, cuda));
  } else if (provider == "TensorrtExecutionProvider") {
    OrtTensorRTProviderOptionsV2* trt = nullptr;
    Ort::ThrowOnError(api.CreateTensorRTProviderOptions(&trt));
    std::unique_ptr<OrtTensorRTProviderOptionsV2, decltype(api.ReleaseTensorRTProviderOptions)> guard(
        trt, api.ReleaseTensorRTProviderOptions);
    const char* keys[] = {"device_id"};
    const char* values[] = {device.c_str()};
    Ort::ThrowOnError(api.UpdateTensorRTProviderOptions(trt, keys, values, 1));
    Ort::ThrowOnError(api.SessionOptionsAppendExecutionProvider_TensorRT_V2(options, trt));
  } else if (provider != "CPUExecutionProvider") {
    throw InvalidInputError("execution provider '" + provider +
                            "' is not supported (use CPUExecutionProvider, CUDAExecutionProvider or "
                            "TensorrtExecutionProvider)");
  }
}

}  // namespace

void ort_load(const std::string& library_path) {
  OrtRuntime& rt = runtime();
  std::lock_guard<std::mutex> lock(rt.mutex);
  if (rt.env) return;
  // RTLD_LOCAL: the symbols stay private, so the onnxruntime Python module's
  // own copy in the same process does not interfere.
  void* handle = dlopen(library_path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* why = dlerror();
    throw BackendUnavailableError("cannot load ONNX Runtime from '" + library_path + "': " + (why ? why : "unknown"));
  }
  using GetApiBase = const OrtApiBase* (*)();
  auto get_base = reinterpret_cast<GetApiBase>(dlsym(handle, "OrtGetApiBase"));
  if (!get_base) {
    dlclose(handle);
    throw BackendUnavailableError("'" + library_path + "' has no OrtGetApiBase: not an ONNX Runtime library");
  }
  const OrtApiBase* base = get_base();
  const OrtApi* api = base->GetApi(ORT_API_VERSION);
  if (!api) {
    const std::string found = base->GetVersionString();
    dlclose(handle);
    throw BackendUnavailableError("the installed onnxruntime " + found + " is older than fastinfer needs: it was built "
                                  "against ONNX Runtime API version " + std::to_string(ORT_API_VERSION) +
                                  " (onnxruntime 1." + std::to_string(ORT_API_VERSION) +
                                  "); pip install 'onnxruntime>=1." + std::to_string(ORT_API_VERSION) + "'");
  }
  Ort::InitApi(api);
  rt.handle = handle;
  rt.base = base;
  try {
    rt.env = std::make_unique<Ort::Env>(ORT_LOGGING_LEVEL_ERROR, "fastinfer");
  } catch (const Ort::Exception& e) {
    throw BackendUnavailableError(std::string("ONNX Runtime failed to start: ") + e.what());
  }
}

bool ort_loaded() { return runtime().env != nullptr; }

std::string ort_version() {
  require_loaded();
  return runtime().base->GetVersionString();
}

int ort_api_version() { return ORT_API_VERSION; }

std::vector<std::string> ort_available_providers() {
  require_loaded();
  return Ort::GetAvailableProviders();
}

struct OnnxRuntimeBackend::Impl {
  std::string path;
  std::unique_ptr<Ort::Session> session;
  std::vector<TensorInfo> inputs;
  std::vector<TensorInfo> outputs;
  std::vector<std::string> output_names;
  std::vector<const char*> output_name_ptrs;
  std::string input_name;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> providers;
  Ort::MemoryInfo cpu_memory = Ort::MemoryInfo::CreateCpu(OrtArenaAllocator, OrtMemTypeDefault);
};

OnnxRuntimeBackend::OnnxRuntimeBackend(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
OnnxRuntimeBackend::~OnnxRuntimeBackend() = default;

std::unique_ptr<OnnxRuntimeBackend> OnnxRuntimeBackend::from_file(const std::string& path,
                                                                 const OrtSessionConfig& config) {
  require_loaded();
  if (!std::ifstream(path, std::ios::binary)) throw ModelLoadError("cannot open ONNX model '" + path + "'");
  if (config.intra_op_threads < 0 || config.inter_op_threads < 0) {
    throw InvalidInputError("thread counts must be >= 0 (0: ONNX Runtime's default)");
  }
  // The same checks as every backend: opset, one float32 NCHW image input, external data.
  check_onnx_image_model(read_onnx_model(path));
  const std::vector<std::string> available = Ort::GetAvailableProviders();
  auto impl = std::make_unique<Impl>();
  impl->path = path;
  Ort::SessionOptions options;
  try {
    options.SetGraphOptimizationLevel(optimization_level(config.graph_optimization));
    if (config.intra_op_threads > 0) options.SetIntraOpNumThreads(config.intra_op_threads);
    if (config.inter_op_threads > 0) options.SetInterOpNumThreads(config.inter_op_threads);
    for (const std::string& provider : config.providers) {
      if (provider == "CPUExecutionProvider") continue;
      if (std::find(available.begin(), available.end(), provider) == available.end()) {
        std::string have;
        for (const std::string& a : available) have += (have.empty() ? "" : ", ") + a;
        throw BackendUnavailableError("execution provider '" + provider +
                                      "' is not available in the installed onnxruntime (available: " + have + ")");
      }
      append_provider(options, provider, config.device_id);
      impl->providers.push_back(provider);
    }
    impl->providers.push_back("CPUExecutionProvider");
    impl->session = std::make_unique<Ort::Session>(*runtime().env, path.c_str(), options);
  } catch (const Ort::Exception& e) {
    throw ModelLoadError("ONNX Runtime could not load '" + path + "': " + e.what());
  }
  Ort::Session& session = *impl->session;
  Ort::AllocatorWithDefaultOptions allocator;
  for (size_t i = 0; i < session.GetInputCount(); ++i) {
    impl->inputs.push_back(describe(session.GetInputNameAllocated(i, allocator).get(), session.GetInputTypeInfo(i)));
  }
  for (size_t i = 0; i < session.GetOutputCount(); ++i) {
    impl->outputs.push_back(describe(session.GetOutputNameAllocated(i, allocator).get(), session.GetOutputTypeInfo(i)));
    impl->output_names.push_back(impl->outputs.back().name);
  }
  if (impl->inputs.size() != 1) {  // checked above on the file; ONNX Runtime sees the same graph
    throw ModelLoadError("ONNX Runtime sees " + std::to_string(impl->inputs.size()) + " inputs in '" + path + "'");
  }
  impl->input_name = impl->inputs[0].name;
  for (const std::string& n : impl->output_names) impl->output_name_ptrs.push_back(n.c_str());
  Ort::ModelMetadata meta = session.GetModelMetadata();
  for (const auto& key : meta.GetCustomMetadataMapKeysAllocated(allocator)) {
    impl->metadata[key.get()] = meta.LookupCustomMetadataMapAllocated(key.get(), allocator).get();
  }
  return std::unique_ptr<OnnxRuntimeBackend>(new OnnxRuntimeBackend(std::move(impl)));
}

std::vector<Tensor> OnnxRuntimeBackend::forward(const float* blob, const std::vector<int>& shape) {
  check_blob_shape(impl_->path, impl_->inputs[0].shape, shape);
  std::vector<int64_t> dims(shape.begin(), shape.end());
  size_t count = 1;
  for (int d : shape) count *= static_cast<size_t>(d);
  // A view of the caller's blob: no copy.
  Ort::Value in = Ort::Value::CreateTensor<float>(impl_->cpu_memory, const_cast<float*>(blob), count, dims.data(),
                                                  dims.size());
  const char* input_name = impl_->input_name.c_str();
  std::vector<Ort::Value> results;
  try {
    results = impl_->session->Run(Ort::RunOptions{nullptr}, &input_name, &in, 1, impl_->output_name_ptrs.data(),
                                  impl_->output_name_ptrs.size());
  } catch (const Ort::Exception& e) {
    throw BackendError("ONNX Runtime failed to run '" + impl_->path + "': " + e.what());
  }
  std::vector<Tensor> tensors;
  for (size_t i = 0; i < results.size(); ++i) {
    auto info = results[i].GetTensorTypeAndShapeInfo();
    if (info.GetElementType() != ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT) {
      throw BackendError("output '" + impl_->output_names[i] + "' of '" + impl_->path + "' is " +
                         type_name(info.GetElementType()) + "; fastinfer reads float32 outputs");
    }
    Tensor t;
    t.name = impl_->output_names[i];
    t.shape = info.GetShape();
    // ORT allocated this output for this call only; numpy takes it over.
    auto holder = std::make_shared<Ort::Value>(std::move(results[i]));
    t.data = std::shared_ptr<const float>(holder, holder->GetTensorData<float>());
    tensors.push_back(std::move(t));
  }
  return tensors;
}

std::vector<std::string> OnnxRuntimeBackend::output_names() const { return impl_->output_names; }
const std::vector<TensorInfo>& OnnxRuntimeBackend::inputs() const { return impl_->inputs; }
const std::vector<TensorInfo>& OnnxRuntimeBackend::outputs() const { return impl_->outputs; }
const std::map<std::string, std::string>& OnnxRuntimeBackend::metadata() const { return impl_->metadata; }
const std::vector<std::string>& OnnxRuntimeBackend::providers() const { return impl_->providers; }

}  // namespace fastinfer
