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
  std::string type;  // without brackets: "net", "convolutional", ...
  int line = 0;
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

// Parses and validates `path`; throws ModelLoadError naming the file, the
// section and the line on any problem.
DarknetCfg parse_darknet_cfg(const std::string& path);

struct DarknetWeightsInfo {
  int major = 0;
  int minor = 0;
  int revision = 0;
  uint64_t seen = 0;
  uint64_t header_bytes = 0;
  uint64_t file_bytes = 0;
};

// Reads the header of `weights_path` and checks its size against the cfg;
// throws ModelLoadError when it is too short or too long.
DarknetWeightsInfo check_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path);

}  // namespace fastinfer
