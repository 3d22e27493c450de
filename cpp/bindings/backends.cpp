// fastinfer._core: loading models on ONNX Runtime and OpenCV DNN, and running them (GIL released).
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastinfer/backend.hpp"
#include "fastinfer/backends/onnxruntime.hpp"
#include "fastinfer/backends/opencv_dnn.hpp"
#include "fastinfer/errors.hpp"
#include "common.hpp"
#include "numpy_views.hpp"

namespace fastinfer::bindings {

namespace {

py::dict tensor_info(const TensorInfo& t) {
  py::dict d;
  d["name"] = t.name;
  py::list shape;
  for (size_t i = 0; i < t.shape.size(); ++i) {
    if (t.shape[i] >= 0) {
      shape.append(t.shape[i]);
    } else {
      shape.append(t.dim_names[i].empty() ? py::object(py::none()) : py::object(py::str(t.dim_names[i])));
    }
  }
  d["shape"] = shape;
  d["type"] = t.type;
  return d;
}

class PyBackend {
 public:
  explicit PyBackend(std::unique_ptr<Backend> impl, py::dict info = py::dict())
      : impl_(std::move(impl)), info_(std::move(info)) {}

  py::list forward(const py::array& blob_obj) {
    auto blob = float_array(blob_obj, "blob", 4);
    std::vector<int> shape;
    for (int d = 0; d < 4; ++d) shape.push_back(static_cast<int>(blob.shape(d)));
    if (shape[0] == 0) throw InvalidInputError("blob has batch size 0");
    std::vector<Tensor> tensors;
    {
      py::gil_scoped_release release;
      tensors = impl_->forward(blob.data(), shape);
    }
    py::list out;
    for (Tensor& t : tensors) out.append(shared_to_numpy(std::move(t.data), t.shape));
    return out;
  }
  std::string name() const { return impl_->name(); }
  std::vector<std::string> output_names() const { return impl_->output_names(); }
  py::dict info() const { return info_; }

 private:
  std::unique_ptr<Backend> impl_;
  py::dict info_;
};

PyBackend onnxruntime_from_file(const std::string& path, int intra_op_threads, int inter_op_threads,
                                const std::string& graph_optimization, const std::vector<std::string>& providers,
                                int device_id) {
  OrtSessionConfig config;
  config.intra_op_threads = intra_op_threads;
  config.inter_op_threads = inter_op_threads;
  config.graph_optimization = graph_optimization;
  config.providers = providers;
  config.device_id = device_id;
  std::unique_ptr<OnnxRuntimeBackend> impl;
  {
    py::gil_scoped_release release;
    impl = OnnxRuntimeBackend::from_file(path, config);
  }
  py::dict info;
  py::list inputs, outputs;
  for (const TensorInfo& t : impl->inputs()) inputs.append(tensor_info(t));
  for (const TensorInfo& t : impl->outputs()) outputs.append(tensor_info(t));
  info["inputs"] = inputs;
  info["outputs"] = outputs;
  info["metadata"] = impl->metadata();
  info["providers"] = impl->providers();
  return PyBackend(std::move(impl), info);
}

}  // namespace

void bind_backends(py::module_& m) {
  py::class_<PyBackend>(m, "Backend", "A loaded model on one inference backend.")
      .def("forward", &PyBackend::forward, py::arg("blob"), "NCHW float32 blob -> list of output arrays.")
      .def_property_readonly("name", &PyBackend::name)
      .def_property_readonly("output_names", &PyBackend::output_names)
      .def_property_readonly("info", &PyBackend::info, "Inputs, outputs, metadata and providers (ONNX Runtime).");
  m.def(
      "ort_load", [](const std::string& path) {
        py::gil_scoped_release release;
        ort_load(path);
      },
      py::arg("library_path"), "Loads libonnxruntime (once per process).");
  m.def("ort_loaded", &ort_loaded);
  m.def("ort_version", &ort_version, "Version of the loaded ONNX Runtime library.");
  m.def("ort_api_version", &ort_api_version, "The ONNX Runtime API version the core requests.");
  m.def("ort_available_providers", &ort_available_providers);
  m.def("onnxruntime_from_file", &onnxruntime_from_file, py::arg("path"), py::arg("intra_op_threads") = 0,
        py::arg("inter_op_threads") = 0, py::arg("graph_optimization") = "all",
        py::arg("providers") = std::vector<std::string>{}, py::arg("device_id") = 0,
        "Loads an ONNX model on ONNX Runtime.");
  m.def(
      "opencv_from_darknet",
      [](const std::string& cfg, const std::string& weights) {
        std::unique_ptr<Backend> impl;
        {
          py::gil_scoped_release release;
          impl = OpenCVDnnBackend::from_darknet(cfg, weights);
        }
        return PyBackend(std::move(impl));
      },
      py::arg("cfg"), py::arg("weights"), "Loads a Darknet model on OpenCV DNN.");
  m.def(
      "opencv_from_onnx",
      [](const std::string& path) {
        std::unique_ptr<Backend> impl;
        {
          py::gil_scoped_release release;
          impl = OpenCVDnnBackend::from_onnx(path);
        }
        return PyBackend(std::move(impl));
      },
      py::arg("path"), "Loads an ONNX model on OpenCV DNN.");
}

}  // namespace fastinfer::bindings
