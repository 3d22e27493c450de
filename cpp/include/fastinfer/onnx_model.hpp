// What fastinfer needs to know about an ONNX file before any backend reads
// it: its opsets, its graph inputs and outputs and the external data files
// its tensors point to. Read from the protobuf wire format directly (no
// protobuf library), so every backend checks the same facts the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace fastinfer {

struct OnnxValueInfo {
  std::string name;
  int elem_type = 0;                 // TensorProto.DataType; 0: not a tensor or not given
  bool has_shape = false;
  std::vector<int64_t> dims;         // -1 where the dimension is symbolic or unknown
  std::vector<std::string> dim_params;
};

struct OnnxExternalData {
  std::string tensor;                // the tensor's name
  std::string location;              // as written in the model
  uint64_t offset = 0;
  int64_t length = -1;               // -1: not given
  uint64_t nbytes = 0;               // what the tensor's dims and type need (0: unknown)
};

struct OnnxModelInfo {
  std::string path;
  int64_t ir_version = 0;
  int64_t opset = 0;                 // of the default domain ("" or "ai.onnx"); 0: not imported
  std::vector<OnnxValueInfo> inputs;   // graph inputs that are not initializers
  std::vector<OnnxValueInfo> outputs;
  std::vector<OnnxExternalData> external_data;
};

// The newest default-domain opset fastinfer accepts.
constexpr int64_t kMaxOnnxOpset = 23;

// Reads the facts above from `path`; throws ModelLoadError naming the file
// when it cannot be read or is not an ONNX model.
OnnxModelInfo read_onnx_model(const std::string& path);

// Checks what every backend needs: a known opset, one float32 4-D (NCHW)
// input, UTF-8 names, and external data files that exist inside the model's
// folder and hold the bytes the tensors need. Throws ModelLoadError naming
// the file and the problem.
void check_onnx_image_model(const OnnxModelInfo& model);

// Checks an NCHW blob's shape against the model's input dimensions (-1:
// any); throws InvalidInputError "ONNX model '<path>' expects input
// 1x3x416x416, got 1x3x320x320". Every backend calls it before running.
void check_blob_shape(const std::string& path, const std::vector<int64_t>& input_dims, const std::vector<int>& shape);

}  // namespace fastinfer
