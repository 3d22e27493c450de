// Darknet .cfg parsing and .weights checking: every section, key and line is
// kept so errors can name them, and shapes are walked to know how many
// parameters the weights file must hold.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fastinfer {

struct CfgOption {
  std::string key;
  std::string value;
  int line = 0;
};

struct CfgSection {
  std::string type;  // without brackets, lower case, aliases resolved: "net", "convolutional", ...
  int line = 0;
  int index = -1;    // Darknet's layer index (-1 for [net])
  std::vector<CfgOption> options;

  const CfgOption* find(const std::string& key) const;
};

// Shape of one layer's output, after the walk.
struct CfgLayerShape {
  int channels = 0;
  int height = 0;
  int width = 0;
};

struct DarknetCfg {
  std::string path;
  CfgSection net;                   // the [net] section
  std::vector<CfgSection> layers;   // every section after [net]
  std::vector<CfgLayerShape> shapes;  // one per layer
  int width = 0;
  int height = 0;
  int channels = 3;
  uint64_t parameter_count = 0;     // floats the .weights file must hold
  int num_classes = 0;              // from the last [yolo]/[region], 0 if none
};

// Parses and validates `path` (walking the shapes at `width` x `height` when
// they are > 0, else at the [net] size); throws ModelLoadError naming the
// file, the line, the section and the layer index on any problem:
// "<path> line <n>: [<type>] (layer <i>) <what>".
//
// This is fastinfer's one Darknet reader: what it accepts, OpenCV's importer
// runs; the ONNX converter builds its graph from its result (and names the
// layers it cannot build). Keys that change the maths and no backend
// implements are refused unless they hold their default; keys that only
// matter for training are ignored.
DarknetCfg parse_darknet_cfg(const std::string& path, int width = 0, int height = 0);

// The syntax step of parse_darknet_cfg alone: every section ([net] first)
// with its options and lines, before any key or shape is checked. Throws
// ModelLoadError for what is not a cfg at all.
std::vector<CfgSection> read_darknet_sections(const std::string& path);

struct DarknetWeightsInfo {
  int major = 0;
  int minor = 0;
  int revision = 0;
  uint64_t seen = 0;
  uint64_t header_bytes = 0;
  uint64_t file_bytes = 0;
};

// Reads the header of `weights_path` and checks its size against the cfg
// and that every value is finite; throws ModelLoadError when it is too short,
// too long, transposed, or holds NaN/inf.
DarknetWeightsInfo check_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path);

// check_darknet_weights, then every parameter after the header, in file order.
std::vector<float> read_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path,
                                        DarknetWeightsInfo* info = nullptr);

}  // namespace fastinfer
