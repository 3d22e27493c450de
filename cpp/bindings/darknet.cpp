// fastinfer._core: the Darknet reader (fastinfer's one cfg/weights reader) for Python.
#include <string>
#include <vector>

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "fastinfer/darknet_cfg.hpp"
#include "fastinfer/errors.hpp"
#include "common.hpp"
#include "numpy_views.hpp"

namespace fastinfer::bindings {

namespace {

py::dict section_dict(const CfgSection& s) {
  py::dict layer, options, lines;
  layer["type"] = s.type;
  layer["line"] = s.line;
  layer["index"] = s.index;
  for (const CfgOption& o : s.options) {
    options[py::str(o.key)] = o.value;
    lines[py::str(o.key)] = o.line;
  }
  layer["options"] = options;
  layer["lines"] = lines;
  return layer;
}

py::list cfg_sections(const std::string& path) {
  std::vector<CfgSection> sections;
  {
    py::gil_scoped_release release;
    sections = read_darknet_sections(path);
  }
  py::list out;
  for (const CfgSection& s : sections) out.append(section_dict(s));
  return out;
}

py::dict cfg_info(const std::string& path, int width, int height) {
  if (width < 0 || height < 0) {
    throw InvalidInputError("width and height must be >= 0 (0: the cfg's own), got " + std::to_string(width) + "x" +
                            std::to_string(height));
  }
  DarknetCfg cfg;
  {
    py::gil_scoped_release release;
    cfg = parse_darknet_cfg(path, width, height);
  }
  py::list layers;
  for (size_t i = 0; i < cfg.layers.size(); ++i) {
    py::dict layer = section_dict(cfg.layers[i]);
    layer["shape"] = py::make_tuple(cfg.shapes[i].channels, cfg.shapes[i].height, cfg.shapes[i].width);
    layers.append(layer);
  }
  py::dict info;
  info["path"] = cfg.path;
  info["width"] = cfg.width;
  info["height"] = cfg.height;
  info["channels"] = cfg.channels;
  info["num_classes"] = cfg.num_classes;
  info["parameter_count"] = cfg.parameter_count;
  info["net"] = section_dict(cfg.net);
  info["layers"] = layers;
  return info;
}

py::dict weights_info(const std::string& cfg_path, const std::string& weights_path) {
  DarknetWeightsInfo w;
  {
    py::gil_scoped_release release;
    w = check_darknet_weights(parse_darknet_cfg(cfg_path), weights_path);
  }
  py::dict info;
  info["version"] = py::make_tuple(w.major, w.minor, w.revision);
  info["seen"] = w.seen;
  info["header_bytes"] = w.header_bytes;
  info["file_bytes"] = w.file_bytes;
  return info;
}

py::array_t<float> read_weights(const std::string& cfg_path, const std::string& weights_path) {
  std::vector<float> values;
  {
    py::gil_scoped_release release;
    values = read_darknet_weights(parse_darknet_cfg(cfg_path), weights_path);
  }
  const py::ssize_t n = static_cast<py::ssize_t>(values.size());
  return to_numpy(std::move(values), {n});
}

}  // namespace

void bind_darknet(py::module_& m) {
  m.def("darknet_cfg_info", &cfg_info, py::arg("path"), py::arg("width") = 0, py::arg("height") = 0,
        "Parses and checks a Darknet cfg (fastinfer's one Darknet reader): input size, classes, parameter count, "
        "[net] and every layer with its type, line, index, options, option lines and output shape (C, H, W), "
        "walked at width x height when they are > 0, else at the cfg's own size.");
  m.def("darknet_cfg_sections", &cfg_sections, py::arg("path"),
        "The sections of a Darknet cfg ([net] first) with their type, line, index, options and option lines, as "
        "read before any key or shape is checked.");
  m.def("darknet_weights", &read_weights, py::arg("cfg"), py::arg("weights"),
        "Every parameter of a Darknet weights file after its header, checked against the cfg (size, finite).");
  m.def("darknet_weights_info", &weights_info, py::arg("cfg"), py::arg("weights"),
        "Checks a Darknet weights file against its cfg and returns its header.");
}

}  // namespace fastinfer::bindings
