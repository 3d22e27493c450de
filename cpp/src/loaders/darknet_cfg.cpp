#include "fastinfer/darknet_cfg.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <initializer_list>
#include <map>
#include <set>
#include <sstream>

#include "fastinfer/errors.hpp"

namespace fastinfer {

const CfgOption* CfgSection::find(const std::string& key) const {
  for (const CfgOption& option : options) {
    if (option.key == key) return &option;
  }
  return nullptr;
}

namespace {

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

// Darknet accepts short names for some sections.
std::string canonical_section(const std::string& type) {
  static const std::map<std::string, std::string> aliases = {
      {"network", "net"}, {"conv", "convolutional"}, {"max", "maxpool"}, {"avg", "avgpool"},
      {"soft", "softmax"}, {"conn", "connected"}};
  auto it = aliases.find(type);
  return it == aliases.end() ? type : it->second;
}

// Keys each supported section understands; training-only keys are accepted
// and ignored.
const std::map<std::string, std::set<std::string>>& known_keys() {
  static const std::map<std::string, std::set<std::string>> keys = {
      {"convolutional", {"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize",
                         "activation", "dilation"}},
      {"connected", {"output", "activation", "batch_normalize"}},
      {"maxpool", {"size", "stride", "padding"}},
      {"avgpool", {}},
      {"route", {"layers", "groups", "group_id"}},
      {"shortcut", {"from", "activation"}},
      {"upsample", {"stride", "scale"}},
      {"reorg", {"stride"}},
      {"dropout", {"probability"}},
      {"softmax", {"groups", "temperature"}},
      {"yolo", {"mask", "anchors", "classes", "num", "jitter", "ignore_thresh", "truth_thresh", "random",
                "scale_x_y", "iou_normalizer", "iou_loss", "iou_thresh", "cls_normalizer", "obj_normalizer",
                "nms_kind", "beta_nms", "max_delta", "resize", "counters_per_class", "label_smooth_eps",
                "max", "new_coords", "thresh", "nms_threshold"}},
      {"region", {"anchors", "classes", "coords", "num", "softmax", "jitter", "rescore", "object_scale",
                  "noobject_scale", "class_scale", "coord_scale", "absolute", "thresh", "random", "bias_match",
                  "log", "sqrt", "nms_threshold"}},
  };
  return keys;
}

// Sections Darknet has that fastinfer does not run.
const std::set<std::string>& unsupported_sections() {
  static const std::set<std::string> names = {
      "detection", "crop", "cost", "local", "deconvolutional", "deconv", "rnn", "gru", "lstm", "crnn",
      "batchnorm", "normalization", "logistic", "l2norm", "iseg", "gaussian_yolo", "sam", "scale_channels",
      "contrastive", "reorg3d", "implicit_add", "implicit_mul", "empty", "silence", "conv_lstm",
      "local_avgpool", "activation"};
  return names;
}

class CfgError {
 public:
  explicit CfgError(std::string path) : path_(std::move(path)) {}
  [[noreturn]] void at(int line, const std::string& what) const {
    throw ModelLoadError("Darknet cfg '" + path_ + "', line " + std::to_string(line) + ": " + what);
  }
  [[noreturn]] void in(const CfgSection& s, const std::string& what) const {
    at(s.line, "[" + s.type + "] " + what);
  }

 private:
  std::string path_;
};

// strtol/strtod on the whole of `text`; false when it is not one number or
// does not fit an int (a finite double).
bool to_int(const std::string& text, int& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(text.c_str(), &end, 10);
  if (*end != '\0' || errno == ERANGE || v < INT_MIN || v > INT_MAX) return false;
  value = static_cast<int>(v);
  return true;
}

bool to_finite(const std::string& text, double& value) {
  if (text.empty()) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  value = v;
  return true;
}

int parse_int(const CfgError& err, const CfgSection& s, const CfgOption& o) {
  int v = 0;
  if (!to_int(o.value, v)) {
    err.at(o.line, "[" + s.type + "] key '" + o.key + "' must be an integer, got '" + o.value + "'");
  }
  return v;
}

double get_finite(const CfgError& err, const CfgSection& s, const std::string& key, double fallback) {
  const CfgOption* o = s.find(key);
  if (!o) return fallback;
  double v = 0;
  if (!to_finite(o->value, v)) {
    err.at(o->line, "[" + s.type + "] key '" + key + "' must be a finite number, got '" + o->value + "'");
  }
  return v;
}

int get_int(const CfgError& err, const CfgSection& s, const std::string& key, int fallback) {
  const CfgOption* o = s.find(key);
  return o ? parse_int(err, s, *o) : fallback;
}

int require_int(const CfgError& err, const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) err.in(s, "is missing the required key '" + key + "'");
  return parse_int(err, s, *o);
}

std::vector<int> get_int_list(const CfgError& err, const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) err.in(s, "is missing the required key '" + key + "'");
  std::vector<int> values;
  std::stringstream ss(o->value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    int v = 0;
    if (!to_int(item, v)) err.at(o->line, "[" + s.type + "] key '" + key + "' must list integers, got '" + o->value + "'");
    values.push_back(v);
  }
  if (values.empty()) err.at(o->line, "[" + s.type + "] key '" + key + "' is empty");
  return values;
}

// A list of finite, non-negative numbers (anchors).
std::vector<double> get_size_list(const CfgError& err, const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) err.in(s, "is missing the required key '" + key + "'");
  std::vector<double> values;
  std::stringstream ss(o->value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    item = trim(item);
    if (item.empty()) continue;
    double v = 0;
    if (!to_finite(item, v) || v < 0) {
      err.at(o->line, "[" + s.type + "] key '" + key + "' must list finite numbers >= 0, got '" + item + "' in '" +
                          o->value + "'");
    }
    values.push_back(v);
  }
  if (values.empty()) err.at(o->line, "[" + s.type + "] key '" + key + "' is empty");
  return values;
}

std::string join(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out;
}

size_t count_list(const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) return 0;
  size_t n = 0;
  std::stringstream ss(o->value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!trim(item).empty()) ++n;
  }
  return n;
}

void check_activation(const CfgError& err, const CfgSection& s) {
  static const std::set<std::string> supported = {"linear", "leaky", "relu", "logistic", "mish", "swish"};
  const CfgOption* o = s.find("activation");
  if (o && !supported.count(o->value)) {
    err.at(o->line, "[" + s.type + "] activation '" + o->value +
                        "' is not supported (supported: linear, leaky, relu, logistic, mish, swish)");
  }
}

// Resolves a route/shortcut reference (negative: relative) to a layer index.
int resolve_ref(const CfgError& err, const CfgSection& s, int ref, int current) {
  const int index = ref < 0 ? current + ref : ref;
  if (index < 0 || index >= current) {
    err.in(s, "refers to layer " + std::to_string(ref) + ", which is not an earlier layer (this is layer " +
                  std::to_string(current) + ")");
  }
  return index;
}

// Bounds that keep every size computed from a cfg well inside int and the
// backends' buffers: far above any real network.
constexpr int64_t kMaxDim = 1 << 20;
constexpr uint64_t kMaxLayerValues = uint64_t{1} << 31;
constexpr uint64_t kMaxParameters = uint64_t{1} << 32;

int checked_dim(const CfgError& err, const CfgSection& s, int64_t value) {
  if (value > kMaxDim) {
    err.in(s, "gives an output size of " + std::to_string(value) + ", more than fastinfer supports (" +
                  std::to_string(kMaxDim) + ")");
  }
  return static_cast<int>(std::max<int64_t>(value, INT_MIN));
}

// The product of `factors`, saturating at UINT64_MAX.
uint64_t product(std::initializer_list<uint64_t> factors) {
  uint64_t out = 1;
  for (uint64_t f : factors) {
    if (f != 0 && out > UINT64_MAX / f) return UINT64_MAX;
    out *= f;
  }
  return out;
}

void add_parameters(const CfgError& err, const CfgSection& s, DarknetCfg& cfg, uint64_t count) {
  if (count > kMaxParameters || cfg.parameter_count + count > kMaxParameters) {
    err.in(s, "brings the network to more than " + std::to_string(kMaxParameters) +
                  " parameters; is the cfg damaged?");
  }
  cfg.parameter_count += count;
}

void walk_shapes(const CfgError& err, DarknetCfg& cfg) {
  CfgLayerShape in{cfg.channels, cfg.height, cfg.width};
  for (size_t li = 0; li < cfg.layers.size(); ++li) {
    const CfgSection& s = cfg.layers[li];
    const int current = static_cast<int>(li);
    CfgLayerShape out = in;
    const std::string& t = s.type;
    if (t == "convolutional") {
      const int filters = require_int(err, s, "filters");
      const int size = get_int(err, s, "size", 1);
      const int stride = get_int(err, s, "stride", 1);
      const int groups = get_int(err, s, "groups", 1);
      const int dilation = get_int(err, s, "dilation", 1);
      const bool bn = get_int(err, s, "batch_normalize", 0) != 0;
      const int padding = get_int(err, s, "pad", 0) ? size / 2 : get_int(err, s, "padding", 0);
      if (filters <= 0 || size <= 0 || stride <= 0 || groups <= 0 || dilation <= 0) {
        err.in(s, "needs positive filters, size, stride, groups and dilation");
      }
      if (in.channels % groups != 0 || filters % groups != 0) {
        err.in(s, "groups=" + std::to_string(groups) + " does not divide the " + std::to_string(in.channels) +
                      " input channels and " + std::to_string(filters) + " filters");
      }
      check_activation(err, s);
      if (padding < 0) err.in(s, "needs padding >= 0");
      const int64_t k = static_cast<int64_t>(dilation) * (size - 1) + 1;
      out.channels = filters;
      out.width = checked_dim(err, s, (in.width + 2 * static_cast<int64_t>(padding) - k) / stride + 1);
      out.height = checked_dim(err, s, (in.height + 2 * static_cast<int64_t>(padding) - k) / stride + 1);
      add_parameters(err, s, cfg, static_cast<uint64_t>(filters) * (bn ? 4 : 1));
      add_parameters(err, s, cfg, product({static_cast<uint64_t>(in.channels / groups), static_cast<uint64_t>(filters),
                                           static_cast<uint64_t>(size), static_cast<uint64_t>(size)}));
    } else if (t == "connected") {
      const int outputs = require_int(err, s, "output");
      if (outputs <= 0) err.in(s, "needs a positive 'output'");
      check_activation(err, s);
      const bool bn = get_int(err, s, "batch_normalize", 0) != 0;
      add_parameters(err, s, cfg, static_cast<uint64_t>(outputs) * (bn ? 4 : 1));
      add_parameters(err, s, cfg, product({static_cast<uint64_t>(in.channels), static_cast<uint64_t>(in.height),
                                           static_cast<uint64_t>(in.width), static_cast<uint64_t>(outputs)}));
      out = CfgLayerShape{outputs, 1, 1};
    } else if (t == "maxpool") {
      const int stride = get_int(err, s, "stride", 1);
      const int size = get_int(err, s, "size", stride);
      const int padding = get_int(err, s, "padding", size - 1);
      if (size <= 0 || stride <= 0 || padding < 0) err.in(s, "needs positive size and stride");
      out.width = checked_dim(err, s, (in.width + static_cast<int64_t>(padding) - size) / stride + 1);
      out.height = checked_dim(err, s, (in.height + static_cast<int64_t>(padding) - size) / stride + 1);
    } else if (t == "avgpool") {
      out.width = out.height = 1;
    } else if (t == "upsample") {
      const int stride = get_int(err, s, "stride", 2);
      if (stride <= 0) err.in(s, "needs a positive stride");
      get_finite(err, s, "scale", 1.0);
      out.width = checked_dim(err, s, static_cast<int64_t>(in.width) * stride);
      out.height = checked_dim(err, s, static_cast<int64_t>(in.height) * stride);
    } else if (t == "reorg") {
      const int stride = get_int(err, s, "stride", 2);
      if (stride <= 0 || in.width % stride || in.height % stride) {
        err.in(s, "stride " + std::to_string(stride) + " must divide the input size " + std::to_string(in.width) +
                      "x" + std::to_string(in.height));
      }
      out = CfgLayerShape{checked_dim(err, s, static_cast<int64_t>(in.channels) * stride * stride), in.height / stride,
                          in.width / stride};
    } else if (t == "route") {
      const std::vector<int> refs = get_int_list(err, s, "layers");
      const int groups = get_int(err, s, "groups", 1);
      const int group_id = get_int(err, s, "group_id", 0);
      if (groups <= 0 || group_id < 0 || group_id >= groups) {
        err.in(s, "needs groups >= 1 and 0 <= group_id < groups");
      }
      out = CfgLayerShape{0, 0, 0};
      for (size_t r = 0; r < refs.size(); ++r) {
        const CfgLayerShape& src = cfg.shapes[resolve_ref(err, s, refs[r], current)];
        if (r == 0) {
          out.height = src.height;
          out.width = src.width;
        } else if (src.height != out.height || src.width != out.width) {
          err.in(s, "joins layers of different sizes (" + std::to_string(out.width) + "x" +
                        std::to_string(out.height) + " and " + std::to_string(src.width) + "x" +
                        std::to_string(src.height) + ")");
        }
        if (src.channels % groups != 0) err.in(s, "groups does not divide the channels of a routed layer");
        out.channels = checked_dim(err, s, static_cast<int64_t>(out.channels) + src.channels / groups);
      }
    } else if (t == "shortcut") {
      const std::vector<int> refs = get_int_list(err, s, "from");
      check_activation(err, s);
      for (int ref : refs) {
        const CfgLayerShape& src = cfg.shapes[resolve_ref(err, s, ref, current)];
        if (src.height != in.height || src.width != in.width) {
          // Darknet allows it (a strided residual); the backends here do not.
          err.in(s, "from a layer of another size (" + std::to_string(src.width) + "x" + std::to_string(src.height) +
                        " onto " + std::to_string(in.width) + "x" + std::to_string(in.height) + ") is not supported");
        }
      }
    } else if (t == "yolo") {
      const int classes = require_int(err, s, "classes");
      const std::vector<double> anchors = get_size_list(err, s, "anchors");
      const int num = get_int(err, s, "num", static_cast<int>(anchors.size() / 2));
      if (classes <= 0 || num <= 0) err.in(s, "needs classes > 0 and num > 0");
      if (anchors.size() < 2 * static_cast<size_t>(num)) {
        err.in(s, "lists " + std::to_string(anchors.size() / 2) + " anchors, fewer than num=" + std::to_string(num));
      }
      std::vector<int> mask;
      if (s.find("mask")) {
        mask = get_int_list(err, s, "mask");
      } else {
        for (int a = 0; a < num; ++a) mask.push_back(a);
      }
      for (int m : mask) {
        // Every backend indexes the anchors with these: out of range reads (or crashes) past them.
        if (m < 0 || m >= num) {
          err.at(s.find("mask")->line, "[yolo] mask=" + join(mask) + " refers to anchor " + std::to_string(m) +
                                           ", but the layer has num=" + std::to_string(num) +
                                           " anchors (mask values must be 0.." + std::to_string(num - 1) + ")");
        }
      }
      const double scale_x_y = get_finite(err, s, "scale_x_y", 1.0);
      if (scale_x_y <= 0) err.in(s, "needs scale_x_y > 0, got " + s.find("scale_x_y")->value);
      for (const char* key : {"thresh", "nms_threshold", "beta_nms", "ignore_thresh", "truth_thresh", "iou_thresh",
                              "iou_normalizer", "cls_normalizer", "obj_normalizer", "max_delta", "label_smooth_eps",
                              "jitter", "resize"}) {
        get_finite(err, s, key, 0.0);
      }
      const size_t masks = mask.size();
      if (static_cast<size_t>(in.channels) != masks * (5 + static_cast<size_t>(classes))) {
        err.in(s, "expects " + std::to_string(masks) + " x (5 + " + std::to_string(classes) + ") = " +
                      std::to_string(masks * (5 + classes)) + " input channels, the layer before gives " +
                      std::to_string(in.channels));
      }
      cfg.num_classes = classes;
    } else if (t == "region") {
      const int classes = require_int(err, s, "classes");
      const int num = require_int(err, s, "num");
      const int coords = get_int(err, s, "coords", 4);
      const std::vector<double> anchors = get_size_list(err, s, "anchors");
      if (classes <= 0 || num <= 0 || coords <= 0) err.in(s, "needs classes > 0, num > 0 and coords > 0");
      if (anchors.size() < 2 * static_cast<size_t>(num)) {
        err.in(s, "lists " + std::to_string(anchors.size() / 2) + " anchors, fewer than num=" + std::to_string(num));
      }
      for (const char* key : {"thresh", "nms_threshold", "jitter", "object_scale", "noobject_scale", "class_scale",
                              "coord_scale"}) {
        get_finite(err, s, key, 0.0);
      }
      const uint64_t needed = static_cast<uint64_t>(num) * (static_cast<uint64_t>(coords) + 1 + classes);
      if (static_cast<uint64_t>(in.channels) != needed) {
        err.in(s, "expects " + std::to_string(needed) + " input channels, the layer before gives " +
                      std::to_string(in.channels));
      }
      cfg.num_classes = classes;
    }
    // dropout, softmax: shape unchanged.
    if (out.width <= 0 || out.height <= 0 || out.channels <= 0) {
      err.in(s, "gives an empty output (" + std::to_string(out.channels) + "x" + std::to_string(out.height) + "x" +
                    std::to_string(out.width) + ") for its input size");
    }
    if (product({static_cast<uint64_t>(out.channels), static_cast<uint64_t>(out.height),
                 static_cast<uint64_t>(out.width)}) > kMaxLayerValues) {
      err.in(s, "gives an output of " + std::to_string(out.channels) + "x" + std::to_string(out.height) + "x" +
                    std::to_string(out.width) + " values, more than the " + std::to_string(kMaxLayerValues) +
                    " one layer may hold");
    }
    cfg.shapes.push_back(out);
    in = out;
  }
}

}  // namespace

DarknetCfg parse_darknet_cfg(const std::string& path) {
  std::ifstream file(path);
  if (!file) throw ModelLoadError("cannot open Darknet cfg '" + path + "'");
  CfgError err(path);
  DarknetCfg cfg;
  cfg.path = path;
  std::vector<CfgSection> sections;
  std::string raw;
  int line_no = 0;
  while (std::getline(file, raw)) {
    ++line_no;
    const std::string line = trim(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line.find('\0') != std::string::npos) err.at(line_no, "contains binary data; is this a cfg file?");
    if (line[0] == '[') {
      if (line.back() != ']') err.at(line_no, "section header '" + line + "' has no closing ']'");
      CfgSection section;
      section.type = canonical_section(trim(line.substr(1, line.size() - 2)));
      section.line = line_no;
      sections.push_back(std::move(section));
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos) err.at(line_no, "expected 'key=value' or '[section]', got '" + line + "'");
    if (sections.empty()) err.at(line_no, "'" + line + "' comes before the first [section]");
    CfgOption option{trim(line.substr(0, eq)), trim(line.substr(eq + 1)), line_no};
    if (option.key.empty()) err.at(line_no, "key is empty in '" + line + "'");
    CfgSection& section = sections.back();
    if (const CfgOption* first = section.find(option.key)) {
      // Darknet reads the first value and OpenCV the last: the same model would differ between them. Only
      // [net] keys that are not read here (batch, learning_rate, ...) may change.
      static const std::set<std::string> net_keys = {"width", "height", "channels"};
      const bool read = section.type != "net" || net_keys.count(option.key);
      if (read && first->value != option.value) {
        err.at(line_no, "[" + section.type + "] key '" + option.key + "' is given twice with different values: '" +
                            first->value + "' (line " + std::to_string(first->line) + ") and '" + option.value + "'");
      }
      continue;
    }
    section.options.push_back(std::move(option));
  }
  if (sections.empty()) throw ModelLoadError("Darknet cfg '" + path + "' has no sections; is it a Darknet cfg?");
  if (sections[0].type != "net") err.at(sections[0].line, "the first section must be [net], got [" + sections[0].type + "]");

  cfg.net = sections[0];
  for (size_t i = 1; i < sections.size(); ++i) {
    const CfgSection& s = sections[i];
    if (s.type == "net") err.at(s.line, "[net] may appear only once, as the first section");
    auto known = known_keys().find(s.type);
    if (known == known_keys().end()) {
      if (unsupported_sections().count(s.type)) err.at(s.line, "layer [" + s.type + "] is not supported");
      err.at(s.line, "unknown section [" + s.type + "]");
    }
    for (const CfgOption& o : s.options) {
      if (!known->second.count(o.key)) err.at(o.line, "[" + s.type + "] key '" + o.key + "' is not supported");
    }
    cfg.layers.push_back(s);
  }
  if (cfg.layers.empty()) throw ModelLoadError("Darknet cfg '" + path + "' has a [net] section but no layers");

  cfg.width = require_int(err, cfg.net, "width");
  cfg.height = require_int(err, cfg.net, "height");
  cfg.channels = get_int(err, cfg.net, "channels", 3);
  if (cfg.width <= 0 || cfg.height <= 0 || cfg.channels <= 0) {
    err.in(cfg.net, "needs positive width, height and channels");
  }
  walk_shapes(err, cfg);
  return cfg;
}

DarknetWeightsInfo check_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path) {
  std::ifstream file(weights_path, std::ios::binary | std::ios::ate);
  if (!file) throw ModelLoadError("cannot open Darknet weights '" + weights_path + "'");
  DarknetWeightsInfo info;
  info.file_bytes = static_cast<uint64_t>(file.tellg());
  file.seekg(0);
  int32_t version[3] = {0, 0, 0};
  if (info.file_bytes < sizeof(version) || !file.read(reinterpret_cast<char*>(version), sizeof(version))) {
    throw ModelLoadError("Darknet weights '" + weights_path + "' is too short to hold a header (" +
                         std::to_string(info.file_bytes) + " bytes)");
  }
  info.major = version[0];
  info.minor = version[1];
  info.revision = version[2];
  const bool wide_seen = (info.major * 10 + info.minor) >= 2 && info.major < 1000 && info.minor < 1000;
  info.header_bytes = sizeof(version) + (wide_seen ? 8 : 4);
  if (info.file_bytes < info.header_bytes) {
    throw ModelLoadError("Darknet weights '" + weights_path + "' is too short to hold a header");
  }
  if (wide_seen) {
    uint64_t seen = 0;
    file.read(reinterpret_cast<char*>(&seen), sizeof(seen));
    info.seen = seen;
  } else {
    uint32_t seen = 0;
    file.read(reinterpret_cast<char*>(&seen), sizeof(seen));
    info.seen = seen;
  }
  const uint64_t expected = info.header_bytes + 4 * cfg.parameter_count;
  if (info.file_bytes != expected) {
    std::ostringstream msg;
    msg << "Darknet weights '" << weights_path << "' do not fit cfg '" << cfg.path << "': the cfg needs "
        << cfg.parameter_count << " parameters (" << expected << " bytes with the " << info.header_bytes
        << "-byte header of version " << info.major << "." << info.minor << "." << info.revision
        << "), the file has " << info.file_bytes << " bytes ("
        << (info.file_bytes < expected ? "truncated" : "too long") << ")";
    throw ModelLoadError(msg.str());
  }
  // NaN or inf anywhere makes every output NaN (0 detections, silently): refuse such files.
  file.seekg(static_cast<std::streamoff>(info.header_bytes));
  std::vector<float> chunk(1 << 18);
  uint64_t index = 0;
  uint64_t bad = 0;
  uint64_t first_bad = 0;
  while (index < cfg.parameter_count) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), cfg.parameter_count - index));
    if (!file.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(n * sizeof(float)))) {
      throw ModelLoadError("cannot read Darknet weights '" + weights_path + "' (it changed while being read?)");
    }
    for (size_t i = 0; i < n; ++i) {
      if (!std::isfinite(chunk[i])) {
        if (bad++ == 0) first_bad = index + i;
      }
    }
    index += n;
  }
  if (bad) {
    throw ModelLoadError("Darknet weights '" + weights_path + "' hold " + std::to_string(bad) + " NaN or infinite " +
                         "values of " + std::to_string(cfg.parameter_count) + " (the first is parameter " +
                         std::to_string(first_bad) + "); the model would output NaN");
  }
  return info;
}

}  // namespace fastinfer
