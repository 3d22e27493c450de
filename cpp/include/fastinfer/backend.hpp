// The interface every inference backend implements: one NCHW float32 batch
// in, the model's output tensors out.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>


namespace fastinfer {

// An output tensor that owns its data (never a view into a runtime's
// reused buffers): `data` keeps whatever holds the values alive.
struct Tensor {
  std::string name;
  std::vector<int64_t> shape;
  std::shared_ptr<const float> data;  // prod(shape) float32 values
};

class Backend {
 public:
  virtual ~Backend() = default;
  // blob: shape[0] x shape[1] x shape[2] x shape[3] floats, NCHW.
  // Implementations must be safe to call from several threads at once.
  virtual std::vector<Tensor> forward(const float* blob, const std::vector<int>& shape) = 0;
  virtual std::string name() const = 0;
  virtual std::vector<std::string> output_names() const = 0;
};

}  // namespace fastinfer
