#include "fastinfer/darknet_cfg.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <initializer_list>
#include <iterator>
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

// Darknet accepts short names for some sections.
std::string canonical_section(std::string type) {
  std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
  static const std::map<std::string, std::string> aliases = {
      {"network", "net"}, {"conv", "convolutional"}, {"max", "maxpool"}, {"avg", "avgpool"},
      {"soft", "softmax"}, {"conn", "connected"}};
  auto it = aliases.find(type);
  return it == aliases.end() ? type : it->second;
}

// What each section may say. `used`: keys read here. `fixed`: keys that would
// change the maths, accepted only at the value given (the key's default, or
// another key's value when it starts with '='). `training`: read by Darknet's
// trainer only, ignored.
struct SectionKeys {
  std::set<std::string> used;
  std::map<std::string, std::string> fixed;
  std::set<std::string> training;
};

const std::set<std::string>& training_everywhere() {
  static const std::set<std::string> keys = {"learning_rate", "stopbackward", "dontload", "dontloadscales",
                                             "dont_update", "burnin_update", "train_only_bn"};
  return keys;
}

const std::map<std::string, SectionKeys>& section_keys() {
  static const std::map<std::string, SectionKeys> keys = {
      {"convolutional",
       {{"filters", "size", "stride", "pad", "padding", "groups", "batch_normalize", "activation", "dilation"},
        {{"stride_x", "=stride"}, {"stride_y", "=stride"}, {"binary", "0"}, {"xnor", "0"}, {"flipped", "0"},
         {"antialiasing", "0"}, {"deform", "0"}, {"sway", "0"}, {"rotate", "0"}, {"stretch", "0"},
         {"stretch_sway", "0"}, {"coordconv", "0"}},
        {"assisted_excitation"}}},
      {"connected", {{"output", "activation", "batch_normalize"}, {}, {}}},
      {"maxpool",
       {{"size", "stride", "padding"},
        {{"stride_x", "=stride"}, {"stride_y", "=stride"}, {"maxpool_depth", "0"}, {"antialiasing", "0"}},
        {}}},
      {"avgpool", {{}, {}, {}}},
      {"route", {{"layers", "groups", "group_id"}, {}, {}}},
      {"shortcut", {{"from", "activation"}, {{"alpha", "1.0"}, {"beta", "1.0"}, {"weights_type", "none"}}, {}}},
      {"upsample", {{"stride"}, {{"scale", "1.0"}}, {}}},
      {"reorg", {{"stride"}, {}, {}}},
      {"dropout", {{}, {}, {"probability", "dropblock", "dropblock_size_rel", "dropblock_size_abs"}}},
      {"softmax", {{"groups", "temperature"}, {}, {}}},
      {"yolo",
       {{"mask", "anchors", "classes", "num", "thresh", "nms_threshold", "scale_x_y", "new_coords"},
        {},
        {"jitter", "ignore_thresh", "truth_thresh", "random", "iou_normalizer", "iou_loss", "iou_thresh",
         "iou_thresh_kind", "cls_normalizer", "obj_normalizer", "delta_normalizer", "uc_normalizer", "nms_kind",
         "beta_nms", "max_delta", "resize", "counters_per_class", "label_smooth_eps", "max", "focal_loss",
         "objectness_smooth", "track_history_size", "sim_thresh", "dets_for_track", "dets_for_show",
         "track_ciou_norm", "embedding_layer", "show_details"}}},
      {"region",
       {{"anchors", "classes", "coords", "num", "softmax", "thresh", "classfix"},
        {},
        {"jitter", "rescore", "object_scale", "noobject_scale", "class_scale", "coord_scale", "absolute", "random",
         "bias_match", "log", "sqrt", "max", "focal_loss"}}},
  };
  return keys;
}

std::string strip_blanks(const std::string& raw) {
  // Darknet drops every blank, inside lines too.
  std::string out;
  for (char c : raw) {
    if (!std::isspace(static_cast<unsigned char>(c))) out += c;
  }
  return out;
}

std::string trim(const std::string& s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return s.substr(b, e - b);
}

class CfgError {
 public:
  explicit CfgError(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  [[noreturn]] void at(int line, const std::string& what) const {
    throw ModelLoadError(path_ + " line " + std::to_string(line) + ": " + what);
  }
  // An error in section `s`, at the line of `key` when it is given.
  [[noreturn]] void in(const CfgSection& s, const std::string& what, const std::string& key = "") const {
    const CfgOption* o = key.empty() ? nullptr : s.find(key);
    at(o ? o->line : s.line, where(s) + " " + what);
  }
  static std::string where(const CfgSection& s) {
    return s.index < 0 ? "[" + s.type + "]" : "[" + s.type + "] (layer " + std::to_string(s.index) + ")";
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

// A decimal number as Darknet writes them and Python's float() reads them:
// [+-]digits[.digits][e[+-]digits] (strtod alone also takes hex, "inf", "nan").
bool decimal_number(const std::string& t) {
  auto digit = [&](size_t i) { return i < t.size() && std::isdigit(static_cast<unsigned char>(t[i])); };
  size_t i = 0;
  if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
  size_t digits = 0;
  while (digit(i)) ++i, ++digits;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (digit(i)) ++i, ++digits;
  }
  if (digits == 0) return false;
  if (i < t.size() && (t[i] == 'e' || t[i] == 'E')) {
    ++i;
    if (i < t.size() && (t[i] == '+' || t[i] == '-')) ++i;
    size_t exponent = 0;
    while (digit(i)) ++i, ++exponent;
    if (exponent == 0) return false;
  }
  return i == t.size();
}

bool to_finite(const std::string& text, double& value) {
  if (!decimal_number(text)) return false;
  char* end = nullptr;
  errno = 0;
  const double v = std::strtod(text.c_str(), &end);
  if (*end != '\0' || errno == ERANGE || !std::isfinite(v)) return false;
  value = v;
  return true;
}

int get_int(const CfgError& err, const CfgSection& s, const std::string& key, int fallback) {
  const CfgOption* o = s.find(key);
  if (!o) return fallback;
  int v = 0;
  if (!to_int(o->value, v)) err.in(s, "key '" + key + "' must be an integer, got '" + o->value + "'", key);
  return v;
}

int require_int(const CfgError& err, const CfgSection& s, const std::string& key) {
  if (!s.find(key)) err.in(s, "is missing the required key '" + key + "'");
  return get_int(err, s, key, 0);
}

double get_finite(const CfgError& err, const CfgSection& s, const std::string& key, double fallback) {
  const CfgOption* o = s.find(key);
  if (!o) return fallback;
  double v = 0;
  if (!to_finite(o->value, v)) err.in(s, "key '" + key + "' must be a finite number, got '" + o->value + "'", key);
  return v;
}

std::vector<std::string> split_list(const std::string& value) {
  std::vector<std::string> items;
  std::stringstream ss(value);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (!item.empty()) items.push_back(item);
  }
  return items;
}

std::vector<int> get_int_list(const CfgError& err, const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) err.in(s, "is missing the required key '" + key + "'");
  std::vector<int> values;
  for (const std::string& item : split_list(o->value)) {
    int v = 0;
    if (!to_int(item, v)) err.in(s, "key '" + key + "' must list integers, got '" + o->value + "'", key);
    values.push_back(v);
  }
  if (values.empty()) err.in(s, "key '" + key + "' is empty", key);
  return values;
}

// A list of finite, non-negative numbers (anchors).
std::vector<double> get_size_list(const CfgError& err, const CfgSection& s, const std::string& key) {
  const CfgOption* o = s.find(key);
  if (!o) err.in(s, "is missing the required key '" + key + "'");
  std::vector<double> values;
  for (const std::string& item : split_list(o->value)) {
    double v = 0;
    if (!to_finite(item, v) || v < 0) {
      err.in(s, "key '" + key + "' must list finite numbers >= 0, got '" + item + "' in '" + o->value + "'", key);
    }
    values.push_back(v);
  }
  if (values.empty()) err.in(s, "key '" + key + "' is empty", key);
  return values;
}

std::string join(const std::vector<int>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out;
}

std::string size_text(const CfgLayerShape& shape) {
  return std::to_string(shape.width) + "x" + std::to_string(shape.height);
}

void check_activation(const CfgError& err, const CfgSection& s) {
  static const std::set<std::string> supported = {"linear", "leaky", "relu", "logistic", "mish", "swish"};
  const CfgOption* o = s.find("activation");
  if (o && !supported.count(o->value)) {
    err.in(s, "activation '" + o->value + "' is not supported (supported: linear, leaky, relu, logistic, mish, swish)",
           "activation");
  }
}

// Keys of `s`: unknown ones refused, fixed ones only at their value, a key
// that is read given twice with different values refused (Darknet reads the
// first, OpenCV the last).
void check_keys(const CfgError& err, const CfgSection& s, const SectionKeys& keys,
                const std::map<std::string, std::vector<CfgOption>>& repeats) {
  for (const CfgOption& o : s.options) {
    const bool training = keys.training.count(o.key) || training_everywhere().count(o.key);
    if (!keys.used.count(o.key) && !keys.fixed.count(o.key) && !training) {
      err.in(s, "key '" + o.key + "' is not supported", o.key);
    }
    auto again = repeats.find(o.key);
    if (!training && again != repeats.end()) {
      for (const CfgOption& later : again->second) {
        if (later.value != o.value) {
          err.at(later.line, CfgError::where(s) + " key '" + o.key + "' is given twice with different values: '" +
                                 o.value + "' (line " + std::to_string(o.line) + ") and '" + later.value + "'");
        }
      }
    }
  }
  for (const auto& [key, wanted] : keys.fixed) {
    const CfgOption* o = s.find(key);
    if (!o) continue;
    std::string allowed = wanted;
    if (wanted[0] == '=') {
      const CfgOption* other = s.find(wanted.substr(1));
      allowed = other ? other->value : "1";
    }
    double a = 0, b = 0;
    const bool same = o->value == allowed || (to_finite(o->value, a) && to_finite(allowed, b) && a == b);
    if (!same) err.in(s, key + "=" + o->value + " is not supported (only " + allowed + ")", key);
  }
}

// Resolves a route/shortcut reference (negative: relative) to a layer index.
int resolve_ref(const CfgError& err, const CfgSection& s, const std::string& key, int ref) {
  const int index = ref < 0 ? s.index + ref : ref;
  if (index < 0 || index >= s.index) {
    err.in(s, key + " refers to layer " + std::to_string(ref) + ", which is not an earlier layer", key);
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

// One layer's output shape (and parameters) from its input shape.
CfgLayerShape walk_layer(const CfgError& err, DarknetCfg& cfg, const CfgSection& s, const CfgLayerShape& in) {
  CfgLayerShape out = in;
  const std::string& t = s.type;
  if (t == "convolutional") {
    const int filters = require_int(err, s, "filters");
    const int size = get_int(err, s, "size", 1);
    const int stride = get_int(err, s, "stride", 1);
    const int groups = get_int(err, s, "groups", 1);
    const int dilation = get_int(err, s, "dilation", 1);
    const bool bn = get_int(err, s, "batch_normalize", 0) != 0;
    const int pad = get_int(err, s, "pad", 0);
    const int padding = pad ? size / 2 : get_int(err, s, "padding", 0);  // Darknet: pad=1 overrides padding
    if (filters <= 0 || size <= 0 || stride <= 0 || groups <= 0 || dilation <= 0 || padding < 0) {
      err.in(s, "needs positive filters, size, stride, groups and dilation");
    }
    if (in.channels % groups != 0 || filters % groups != 0) {
      err.in(s, "groups=" + std::to_string(groups) + " does not divide the " + std::to_string(in.channels) +
                    " input channels and " + std::to_string(filters) + " filters", "groups");
    }
    check_activation(err, s);
    const int64_t k = static_cast<int64_t>(dilation) * (size - 1) + 1;
    out.channels = checked_dim(err, s, filters);
    out.width = checked_dim(err, s, (in.width + 2 * static_cast<int64_t>(padding) - k) / stride + 1);
    out.height = checked_dim(err, s, (in.height + 2 * static_cast<int64_t>(padding) - k) / stride + 1);
    add_parameters(err, s, cfg, static_cast<uint64_t>(filters) * (bn ? 4 : 1));
    add_parameters(err, s, cfg, product({static_cast<uint64_t>(in.channels / groups), static_cast<uint64_t>(filters),
                                         static_cast<uint64_t>(size), static_cast<uint64_t>(size)}));
  } else if (t == "connected") {
    const int outputs = require_int(err, s, "output");
    if (outputs <= 0) err.in(s, "needs a positive 'output'", "output");
    check_activation(err, s);
    const bool bn = get_int(err, s, "batch_normalize", 0) != 0;
    add_parameters(err, s, cfg, static_cast<uint64_t>(outputs) * (bn ? 4 : 1));
    add_parameters(err, s, cfg, product({static_cast<uint64_t>(in.channels), static_cast<uint64_t>(in.height),
                                         static_cast<uint64_t>(in.width), static_cast<uint64_t>(outputs)}));
    out = CfgLayerShape{checked_dim(err, s, outputs), 1, 1};
  } else if (t == "maxpool") {
    const int stride = get_int(err, s, "stride", 1);
    const int size = get_int(err, s, "size", stride);
    const int padding = get_int(err, s, "padding", static_cast<int>(std::max<int64_t>(int64_t{size} - 1, INT_MIN)));
    if (size <= 0 || stride <= 0 || padding < 0 || padding >= 2 * static_cast<int64_t>(size) - 1) {
      err.in(s, "needs positive size and stride and 0 <= padding < 2*size-1, got size=" + std::to_string(size) +
                    " stride=" + std::to_string(stride) + " padding=" + std::to_string(padding));
    }
    out.width = checked_dim(err, s, (in.width + static_cast<int64_t>(padding) - size) / stride + 1);
    out.height = checked_dim(err, s, (in.height + static_cast<int64_t>(padding) - size) / stride + 1);
  } else if (t == "avgpool") {
    out.width = out.height = 1;
  } else if (t == "upsample") {
    const int stride = get_int(err, s, "stride", 2);
    if (stride <= 0) err.in(s, "stride=" + std::to_string(stride) + " is not supported (only positive strides)", "stride");
    out.width = checked_dim(err, s, static_cast<int64_t>(in.width) * stride);
    out.height = checked_dim(err, s, static_cast<int64_t>(in.height) * stride);
  } else if (t == "reorg") {
    const int stride = get_int(err, s, "stride", 2);
    if (stride <= 0 || in.width % stride || in.height % stride) {
      err.in(s, "stride " + std::to_string(stride) + " must divide the input size " + size_text(in), "stride");
    }
    out = CfgLayerShape{checked_dim(err, s, static_cast<int64_t>(in.channels) * stride * stride), in.height / stride,
                        in.width / stride};
  } else if (t == "route") {
    const std::vector<int> refs = get_int_list(err, s, "layers");
    const int groups = get_int(err, s, "groups", 1);
    const int group_id = get_int(err, s, "group_id", 0);
    if (groups <= 0 || group_id < 0 || group_id >= groups) {
      err.in(s, "needs groups >= 1 and 0 <= group_id < groups, got groups=" + std::to_string(groups) +
                    " group_id=" + std::to_string(group_id));
    }
    out = CfgLayerShape{0, 0, 0};
    for (size_t r = 0; r < refs.size(); ++r) {
      const int index = resolve_ref(err, s, "layers", refs[r]);
      const CfgLayerShape& src = cfg.shapes[index];
      if (src.channels % groups != 0) {
        err.in(s, "groups=" + std::to_string(groups) + " does not divide the " + std::to_string(src.channels) +
                      " channels of layer " + std::to_string(index), "groups");
      }
      if (r == 0) {
        out.height = src.height;
        out.width = src.width;
      } else if (src.height != out.height || src.width != out.width) {
        err.in(s, "joins layers of different sizes: layer " + std::to_string(index) + " is " + size_text(src) +
                      ", expected " + size_text(out) + " (is the input size a multiple of the network stride?)");
      }
      out.channels = checked_dim(err, s, static_cast<int64_t>(out.channels) + src.channels / groups);
    }
  } else if (t == "shortcut") {
    const std::vector<int> refs = get_int_list(err, s, "from");
    check_activation(err, s);
    for (int ref : refs) {
      const int index = resolve_ref(err, s, "from", ref);
      const CfgLayerShape& src = cfg.shapes[index];
      if (src.channels != in.channels) {
        err.in(s, "adds layer " + std::to_string(index) + " (" + std::to_string(src.channels) + " channels) to " +
                      std::to_string(in.channels) + " channels: adding different channel counts is not supported", "from");
      }
      if (src.height != in.height || src.width != in.width) {
        // Darknet allows it (a strided residual); the backends here do not.
        err.in(s, "adds layers of different sizes: layer " + std::to_string(index) + " is " + size_text(src) +
                      ", expected " + size_text(in) + " (is the input size a multiple of the network stride?)");
      }
    }
  } else if (t == "yolo") {
    const int classes = require_int(err, s, "classes");
    const std::vector<double> anchors = get_size_list(err, s, "anchors");
    const int num = get_int(err, s, "num", static_cast<int>(anchors.size() / 2));
    std::vector<int> mask;
    if (s.find("mask")) {
      mask = get_int_list(err, s, "mask");
    } else {
      for (int a = 0; a < std::max(num, 0); ++a) mask.push_back(a);
    }
    for (const char* key : {"thresh", "nms_threshold"}) get_finite(err, s, key, 0.0);
    const double scale_x_y = get_finite(err, s, "scale_x_y", 1.0);
    const int new_coords = get_int(err, s, "new_coords", 0);
    if (classes <= 0 || num <= 0) err.in(s, "needs classes > 0 and num > 0");
    // Every backend indexes the anchors with the mask: out of range reads (or crashes) past them.
    const bool masked_ok = std::all_of(mask.begin(), mask.end(), [&](int m) { return m >= 0 && m < num; });
    if (anchors.size() < 2 * static_cast<size_t>(num) || !masked_ok) {
      err.in(s, "lists " + std::to_string(anchors.size() / 2) + " anchors for num=" + std::to_string(num) +
                    " and mask=" + join(mask), "anchors");
    }
    if (scale_x_y <= 0) err.in(s, "needs scale_x_y > 0, got " + s.find("scale_x_y")->value, "scale_x_y");
    if (new_coords != 0 && new_coords != 1) {
      err.in(s, "new_coords=" + std::to_string(new_coords) + " is not supported (only 0 or 1)", "new_coords");
    }
    const uint64_t needed = static_cast<uint64_t>(mask.size()) * (5 + static_cast<uint64_t>(classes));
    if (static_cast<uint64_t>(in.channels) != needed) {
      err.in(s, "expects " + std::to_string(mask.size()) + " x (5 + " + std::to_string(classes) + ") = " +
                    std::to_string(needed) + " input channels, the layer before gives " + std::to_string(in.channels));
    }
    cfg.num_classes = classes;
  } else if (t == "region") {
    const int classes = require_int(err, s, "classes");
    const int num = require_int(err, s, "num");
    const int coords = get_int(err, s, "coords", 4);
    const std::vector<double> anchors = get_size_list(err, s, "anchors");
    get_finite(err, s, "thresh", 0.0);
    get_int(err, s, "classfix", 0);
    if (coords != 4) err.in(s, "coords=" + std::to_string(coords) + " is not supported (only 4)", "coords");
    if (get_int(err, s, "softmax", 0) != 1) err.in(s, "without softmax=1 is not supported", "softmax");
    if (classes <= 0 || num <= 0 || anchors.size() != 2 * static_cast<size_t>(num)) {
      err.in(s, "needs classes > 0 and num > 0 anchor pairs, got classes=" + std::to_string(classes) +
                    " num=" + std::to_string(num) + " and " + std::to_string(anchors.size()) + " anchor values");
    }
    const uint64_t needed = static_cast<uint64_t>(num) * (5 + static_cast<uint64_t>(classes));
    if (static_cast<uint64_t>(in.channels) != needed) {
      err.in(s, "expects " + std::to_string(num) + " x (5 + " + std::to_string(classes) + ") = " +
                    std::to_string(needed) + " input channels, the layer before gives " + std::to_string(in.channels));
    }
    cfg.num_classes = classes;
  } else if (t == "softmax") {
    get_int(err, s, "groups", 1);
    get_finite(err, s, "temperature", 1.0);
  }
  // dropout, softmax: shape unchanged.
  if (out.width <= 0 || out.height <= 0 || out.channels <= 0) {
    err.in(s, "gives an empty output (" + std::to_string(out.channels) + "x" + std::to_string(out.height) + "x" +
                  std::to_string(out.width) + ") for a " + std::to_string(cfg.width) + "x" +
                  std::to_string(cfg.height) + " input");
  }
  if (product({static_cast<uint64_t>(out.channels), static_cast<uint64_t>(out.height),
               static_cast<uint64_t>(out.width)}) > kMaxLayerValues) {
    err.in(s, "gives an output of " + std::to_string(out.channels) + "x" + std::to_string(out.height) + "x" +
                  std::to_string(out.width) + " values, more than the " + std::to_string(kMaxLayerValues) +
                  " one layer may hold");
  }
  return out;
}

// Sections Darknet has that fastinfer does not run.
bool known_section(const std::string& type) { return section_keys().count(type) > 0; }

}  // namespace

namespace {

struct CfgText {
  std::vector<CfgSection> sections;                              // [net] first
  std::vector<std::map<std::string, std::vector<CfgOption>>> repeats;  // later values of a key, per section
};

CfgText read_sections(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) throw ModelLoadError("cannot read Darknet cfg '" + path + "': " + std::strerror(errno));
  const std::string data((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  if (data.find('\0') != std::string::npos) {
    throw ModelLoadError("Darknet cfg '" + path + "' contains binary data; is it a cfg file?");
  }
  const CfgError err(path);
  std::vector<CfgSection> sections;
  std::vector<std::map<std::string, std::vector<CfgOption>>> repeats;
  std::stringstream lines(data);
  std::string raw;
  int line_no = 0;
  int layer_index = 0;
  while (std::getline(lines, raw)) {
    ++line_no;
    const std::string line = strip_blanks(raw);
    if (line.empty() || line[0] == '#' || line[0] == ';') continue;
    if (line[0] == '[') {
      if (line.back() != ']') err.at(line_no, "section header '" + trim(raw) + "' has no closing ']'");
      CfgSection section;
      section.type = canonical_section(line.substr(1, line.size() - 2));
      section.line = line_no;
      section.index = section.type == "net" ? -1 : layer_index++;
      sections.push_back(std::move(section));
      repeats.emplace_back();
      continue;
    }
    const size_t eq = line.find('=');
    if (eq == std::string::npos || eq == 0) {
      err.at(line_no, "expected 'key=value' or '[section]', got '" + trim(raw) + "'");
    }
    if (sections.empty()) err.at(line_no, "'" + trim(raw) + "' comes before the first [section]");
    CfgOption option{line.substr(0, eq), line.substr(eq + 1), line_no};
    if (sections.back().find(option.key)) {
      repeats.back()[option.key].push_back(std::move(option));
    } else {
      sections.back().options.push_back(std::move(option));
    }
  }
  if (sections.empty()) throw ModelLoadError("Darknet cfg '" + path + "' has no sections; is it a Darknet cfg?");
  if (sections[0].type != "net") {
    err.at(sections[0].line, "the first section must be [net], got [" + sections[0].type + "]");
  }
  for (size_t i = 1; i < sections.size(); ++i) {
    if (sections[i].type == "net") err.at(sections[i].line, "[net] may appear only once, as the first section");
  }
  if (sections.size() == 1) throw ModelLoadError("Darknet cfg '" + path + "' has a [net] section but no layers");
  return CfgText{std::move(sections), std::move(repeats)};
}

}  // namespace

std::vector<CfgSection> read_darknet_sections(const std::string& path) { return read_sections(path).sections; }

DarknetCfg parse_darknet_cfg(const std::string& path, int width, int height) {
  const CfgText text = read_sections(path);
  const std::vector<CfgSection>& sections = text.sections;
  const auto& repeats = text.repeats;
  const CfgError err(path);
  DarknetCfg cfg;
  cfg.path = path;
  cfg.net = sections[0];
  // Only the [net] keys read here must agree with themselves (batch=64 then batch=1 is common).
  SectionKeys net_keys;
  for (const auto& [key, values] : repeats[0]) {
    if (key != "width" && key != "height" && key != "channels") net_keys.training.insert(key);
  }
  for (const CfgOption& o : cfg.net.options) {
    if (!net_keys.training.count(o.key)) net_keys.used.insert(o.key);
  }
  check_keys(err, cfg.net, net_keys, repeats[0]);
  cfg.channels = get_int(err, cfg.net, "channels", 3);
  if (cfg.channels <= 0) err.in(cfg.net, "needs a positive 'channels', got " + std::to_string(cfg.channels), "channels");
  for (const char* key : {"width", "height"}) {
    const int given = std::string(key) == "width" ? width : height;
    int& value = std::string(key) == "width" ? cfg.width : cfg.height;
    if (given > 0) {
      value = given;
      continue;
    }
    value = require_int(err, cfg.net, key);
    if (value <= 0) err.in(cfg.net, "needs a positive '" + std::string(key) + "', got " + std::to_string(value));
  }

  CfgLayerShape in{cfg.channels, cfg.height, cfg.width};
  for (size_t i = 1; i < sections.size(); ++i) {
    const CfgSection& s = sections[i];
    if (!known_section(s.type)) err.in(s, "is not supported");
    check_keys(err, s, section_keys().at(s.type), repeats[i]);
    cfg.layers.push_back(s);
    in = walk_layer(err, cfg, s, in);
    cfg.shapes.push_back(in);
  }
  return cfg;
}

namespace {

// Opens `weights_path`, reads and checks its header and size against the cfg;
// leaves `file` at the first parameter.
DarknetWeightsInfo open_weights(const DarknetCfg& cfg, const std::string& weights_path, std::ifstream& file) {
  file.open(weights_path, std::ios::binary | std::ios::ate);
  if (!file) throw ModelLoadError("cannot read Darknet weights '" + weights_path + "': " + std::strerror(errno));
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
  const std::string version_text =
      std::to_string(info.major) + "." + std::to_string(info.minor) + "." + std::to_string(info.revision);
  if (info.major > 1000 || info.minor > 1000) {
    throw ModelLoadError("Darknet weights '" + weights_path + "' have header version " + version_text +
                         " (transposed weights), which is not supported");
  }
  const bool wide_seen = static_cast<int64_t>(info.major) * 10 + info.minor >= 2;
  info.header_bytes = sizeof(version) + (wide_seen ? 8 : 4);
  const uint64_t expected = info.header_bytes + 4 * cfg.parameter_count;
  if (info.file_bytes != expected) {
    std::ostringstream msg;
    msg << "Darknet weights '" << weights_path << "' do not fit cfg '" << cfg.path << "': the cfg needs "
        << cfg.parameter_count << " parameters (" << expected << " bytes with the " << info.header_bytes
        << "-byte header of version " << version_text << "), the file has " << info.file_bytes << " bytes ("
        << (info.file_bytes < expected ? "truncated" : "too long") << ")";
    throw ModelLoadError(msg.str());
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
  return info;
}

// Counts the NaN/inf among `n` values (the first's index goes to `first`, offset by `base`).
uint64_t count_non_finite(const float* values, size_t n, uint64_t base, uint64_t& first, uint64_t bad) {
  for (size_t i = 0; i < n; ++i) {
    if (!std::isfinite(values[i]) && bad++ == 0) first = base + i;
  }
  return bad;
}

// NaN or inf anywhere makes every output NaN (0 detections, silently): such files are refused.
void refuse_non_finite(const DarknetCfg& cfg, const std::string& weights_path, uint64_t bad, uint64_t first) {
  if (!bad) return;
  throw ModelLoadError("Darknet weights '" + weights_path + "' hold " + std::to_string(bad) + " NaN or infinite " +
                       "values of " + std::to_string(cfg.parameter_count) + " (the first is parameter " +
                       std::to_string(first) + "); the model would output NaN");
}

[[noreturn]] void changed(const std::string& weights_path) {
  throw ModelLoadError("cannot read Darknet weights '" + weights_path + "' (it changed while being read?)");
}

}  // namespace

DarknetWeightsInfo check_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path) {
  std::ifstream file;
  const DarknetWeightsInfo info = open_weights(cfg, weights_path, file);
  std::vector<float> chunk(size_t{1} << 18);  // 1 MB at a time: no copy of the whole file
  uint64_t done = 0, bad = 0, first = 0;
  while (done < cfg.parameter_count) {
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk.size(), cfg.parameter_count - done));
    if (!file.read(reinterpret_cast<char*>(chunk.data()), static_cast<std::streamsize>(n * sizeof(float)))) {
      changed(weights_path);
    }
    bad = count_non_finite(chunk.data(), n, done, first, bad);
    done += n;
  }
  refuse_non_finite(cfg, weights_path, bad, first);
  return info;
}

std::vector<float> read_darknet_weights(const DarknetCfg& cfg, const std::string& weights_path,
                                        DarknetWeightsInfo* info_out) {
  std::ifstream file;
  const DarknetWeightsInfo info = open_weights(cfg, weights_path, file);
  std::vector<float> values(static_cast<size_t>(cfg.parameter_count));
  if (!file.read(reinterpret_cast<char*>(values.data()), static_cast<std::streamsize>(values.size() * sizeof(float)))) {
    changed(weights_path);
  }
  uint64_t first = 0;
  refuse_non_finite(cfg, weights_path, count_non_finite(values.data(), values.size(), 0, first, 0), first);
  if (info_out) *info_out = info;
  return values;
}

}  // namespace fastinfer
