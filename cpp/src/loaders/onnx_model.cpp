#include "fastinfer/onnx_model.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <initializer_list>
#include <set>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

namespace fs = std::filesystem;

// Field numbers of onnx.proto3 used below.
namespace field {
constexpr int kModelIrVersion = 1, kModelGraph = 7, kModelOpsetImport = 8, kModelMetadata = 14;
constexpr int kOpsetDomain = 1, kOpsetVersion = 2;
constexpr int kGraphNode = 1, kGraphInitializer = 5, kGraphInput = 11, kGraphOutput = 12;
constexpr int kNodeInput = 1, kNodeOutput = 2, kNodeName = 3, kNodeAttribute = 5;
constexpr int kAttributeTensor = 5, kAttributeTensors = 10;
constexpr int kTensorDims = 1, kTensorDataType = 2, kTensorName = 8, kTensorExternalData = 13,
              kTensorDataLocation = 14;
constexpr int kEntryKey = 1, kEntryValue = 2;
constexpr int kValueName = 1, kValueType = 2;
constexpr int kTypeTensor = 1;
constexpr int kTensorTypeElem = 1, kTensorTypeShape = 2;
constexpr int kShapeDim = 1;
constexpr int kDimValue = 1, kDimParam = 2;
}  // namespace field

constexpr int kVarint = 0, kFixed64 = 1, kBytes = 2, kFixed32 = 5;
constexpr int64_t kDataLocationExternal = 1;

[[noreturn]] void damaged(const std::string& path, const std::string& what) {
  throw ModelLoadError("ONNX model '" + path + "' cannot be read: " + what + " (a damaged file, or not ONNX?)");
}

// A read-only view of the bytes of one protobuf message.
class Wire {
 public:
  Wire(const uint8_t* begin, const uint8_t* end, const std::string& path) : p_(begin), end_(end), path_(path) {}

  // The next field's number and wire type; false at the end of the message.
  bool next(int& number, int& wire) {
    if (p_ >= end_) return false;
    const uint64_t key = varint();
    number = static_cast<int>(key >> 3);
    wire = static_cast<int>(key & 7);
    if (number <= 0) damaged(path_, "a field number of 0");
    return true;
  }

  uint64_t varint() {
    uint64_t value = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p_ >= end_) damaged(path_, "a number runs past the end of the file");
      const uint8_t byte = *p_++;
      value |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return value;
    }
    damaged(path_, "a number longer than 10 bytes");
  }

  Wire bytes() {
    const uint64_t length = varint();
    if (length > static_cast<uint64_t>(end_ - p_)) damaged(path_, "a field runs past the end of its message");
    Wire inner(p_, p_ + length, path_);
    p_ += length;
    return inner;
  }

  std::string text() {
    Wire inner = bytes();
    return std::string(reinterpret_cast<const char*>(inner.p_), static_cast<size_t>(inner.end_ - inner.p_));
  }

  void skip(int wire) {
    switch (wire) {
      case kVarint: varint(); return;
      case kFixed64: advance(8); return;
      case kBytes: bytes(); return;
      case kFixed32: advance(4); return;
      default: damaged(path_, "an unknown wire type " + std::to_string(wire));
    }
  }

  // A repeated int64 field, packed or not.
  void int64s(int wire, std::vector<int64_t>& out) {
    if (wire == kVarint) {
      out.push_back(static_cast<int64_t>(varint()));
    } else if (wire == kBytes) {
      Wire packed = bytes();
      while (packed.p_ < packed.end_) out.push_back(static_cast<int64_t>(packed.varint()));
    } else {
      damaged(path_, "a list of integers with wire type " + std::to_string(wire));
    }
  }

  void expect(int wire, int wanted, const char* what) const {
    if (wire != wanted) damaged(path_, std::string("the field '") + what + "' has the wrong wire type");
  }

 private:
  void advance(size_t n) {
    if (n > static_cast<size_t>(end_ - p_)) damaged(path_, "a field runs past the end of its message");
    p_ += n;
  }

  const uint8_t* p_;
  const uint8_t* end_;
  const std::string& path_;
};

// The model file mapped into memory (weights are skipped, never copied).
class MappedFile {
 public:
  explicit MappedFile(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw ModelLoadError("cannot open ONNX model '" + path + "': " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd);
      throw ModelLoadError("cannot open ONNX model '" + path + "': not a regular file");
    }
    size_ = static_cast<size_t>(st.st_size);
    if (size_ > 0) {
      void* data = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (data == MAP_FAILED) {
        const int error = errno;
        ::close(fd);
        throw ModelLoadError("cannot read ONNX model '" + path + "': " + std::strerror(error));
      }
      data_ = static_cast<const uint8_t*>(data);
    }
    ::close(fd);
  }
  ~MappedFile() {
    if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* begin() const { return data_; }
  const uint8_t* end() const { return data_ + size_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Bytes per element of a TensorProto.DataType; 0 when not fixed (strings,
// 4-bit types) or unknown.
uint64_t element_size(int64_t type) {
  switch (type) {
    case 1: case 6: case 12: return 4;             // float, int32, uint32
    case 2: case 3: case 9: return 1;              // uint8, int8, bool
    case 4: case 5: case 10: case 16: return 2;    // uint16, int16, float16, bfloat16
    case 7: case 11: case 13: case 14: return 8;   // int64, double, uint64, complex64
    case 15: return 16;                            // complex128
    case 17: case 18: case 19: case 20: return 1;  // float8 variants
    default: return 0;
  }
}

// Records the tensor's external data, if any; returns its name.
std::string read_tensor(Wire tensor, OnnxModelInfo& model) {
  std::vector<int64_t> dims;
  int64_t type = 0;
  int64_t location = 0;
  std::string name;
  OnnxExternalData external;
  bool has_location_key = false;
  int number = 0, wire = 0;
  while (tensor.next(number, wire)) {
    if (number == field::kTensorDims) {
      tensor.int64s(wire, dims);
    } else if (number == field::kTensorDataType && wire == kVarint) {
      type = static_cast<int64_t>(tensor.varint());
    } else if (number == field::kTensorName && wire == kBytes) {
      name = tensor.text();
    } else if (number == field::kTensorDataLocation && wire == kVarint) {
      location = static_cast<int64_t>(tensor.varint());
    } else if (number == field::kTensorExternalData && wire == kBytes) {
      Wire entry = tensor.bytes();
      std::string key, value;
      int n = 0, w = 0;
      while (entry.next(n, w)) {
        if (n == field::kEntryKey && w == kBytes) {
          key = entry.text();
        } else if (n == field::kEntryValue && w == kBytes) {
          value = entry.text();
        } else {
          entry.skip(w);
        }
      }
      if (key == "location") {
        external.location = value;
        has_location_key = true;
      } else if (key == "offset" || key == "length") {
        char* end = nullptr;
        errno = 0;
        const unsigned long long v = std::strtoull(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0' || errno == ERANGE || value[0] == '-') {
          throw ModelLoadError("ONNX model '" + model.path + "': tensor '" + name + "' has external data " + key +
                               " '" + value + "', which is not a byte count");
        }
        if (key == "offset") external.offset = v;
        if (key == "length") external.length = static_cast<int64_t>(std::min<unsigned long long>(v, INT64_MAX));
      }
    } else {
      tensor.skip(wire);
    }
  }
  if (location != kDataLocationExternal) return name;
  if (!has_location_key) {
    throw ModelLoadError("ONNX model '" + model.path + "': tensor '" + name +
                         "' keeps its data in an external file but names no location");
  }
  external.tensor = name;
  uint64_t count = 1;
  bool known = element_size(type) != 0;
  for (int64_t d : dims) {
    if (d < 0) known = false;
    else if (d != 0 && count > UINT64_MAX / static_cast<uint64_t>(d)) count = UINT64_MAX;
    else count *= static_cast<uint64_t>(d);
  }
  if (known && count <= UINT64_MAX / element_size(type)) external.nbytes = count * element_size(type);
  model.external_data.push_back(std::move(external));
  return name;
}

OnnxValueInfo read_value_info(Wire value) {
  OnnxValueInfo info;
  int number = 0, wire = 0;
  while (value.next(number, wire)) {
    if (number == field::kValueName && wire == kBytes) {
      info.name = value.text();
    } else if (number == field::kValueType && wire == kBytes) {
      Wire type = value.bytes();
      int n = 0, w = 0;
      while (type.next(n, w)) {
        if (n != field::kTypeTensor || w != kBytes) {
          type.skip(w);
          continue;
        }
        Wire tensor = type.bytes();
        int tn = 0, tw = 0;
        while (tensor.next(tn, tw)) {
          if (tn == field::kTensorTypeElem && tw == kVarint) {
            info.elem_type = static_cast<int>(tensor.varint());
          } else if (tn == field::kTensorTypeShape && tw == kBytes) {
            info.has_shape = true;
            Wire shape = tensor.bytes();
            int sn = 0, sw = 0;
            while (shape.next(sn, sw)) {
              if (sn != field::kShapeDim || sw != kBytes) {
                shape.skip(sw);
                continue;
              }
              Wire dim = shape.bytes();
              int64_t size = -1;
              std::string param;
              int dn = 0, dw = 0;
              while (dim.next(dn, dw)) {
                if (dn == field::kDimValue && dw == kVarint) {
                  size = static_cast<int64_t>(dim.varint());
                } else if (dn == field::kDimParam && dw == kBytes) {
                  param = dim.text();
                } else {
                  dim.skip(dw);
                }
              }
              info.dims.push_back(size < 0 ? -1 : size);
              info.dim_params.push_back(param);
            }
          } else {
            tensor.skip(tw);
          }
        }
      }
    } else {
      value.skip(wire);
    }
  }
  return info;
}

struct NodeNames {
  std::string name;
  std::vector<std::string> inputs, outputs;
};

void read_graph(Wire graph, OnnxModelInfo& model) {
  std::vector<OnnxValueInfo> inputs;
  std::set<std::string> initializers;
  std::vector<NodeNames> nodes;
  int number = 0, wire = 0;
  while (graph.next(number, wire)) {
    if (number == field::kGraphInitializer && wire == kBytes) {
      initializers.insert(read_tensor(graph.bytes(), model));
    } else if (number == field::kGraphInput && wire == kBytes) {
      inputs.push_back(read_value_info(graph.bytes()));
    } else if (number == field::kGraphOutput && wire == kBytes) {
      model.outputs.push_back(read_value_info(graph.bytes()));
    } else if (number == field::kGraphNode && wire == kBytes) {
      // Constant nodes may keep their tensor in an external file too.
      Wire node = graph.bytes();
      nodes.emplace_back();
      int n = 0, w = 0;
      while (node.next(n, w)) {
        if (n == field::kNodeInput && w == kBytes) {
          nodes.back().inputs.push_back(node.text());
          continue;
        }
        if (n == field::kNodeOutput && w == kBytes) {
          nodes.back().outputs.push_back(node.text());
          continue;
        }
        if (n == field::kNodeName && w == kBytes) {
          nodes.back().name = node.text();
          continue;
        }
        if (n != field::kNodeAttribute || w != kBytes) {
          node.skip(w);
          continue;
        }
        Wire attribute = node.bytes();
        int an = 0, aw = 0;
        while (attribute.next(an, aw)) {
          if ((an == field::kAttributeTensor || an == field::kAttributeTensors) && aw == kBytes) {
            read_tensor(attribute.bytes(), model);
          } else {
            attribute.skip(aw);
          }
        }
      }
    } else {
      graph.skip(wire);
    }
  }
  // Every value a node reads must come from a graph input, an initializer or an earlier node (ONNX keeps
  // nodes in topological order): OpenCV's importer crashed (SIGSEGV) on a node reading an undefined name.
  std::set<std::string> defined = initializers;
  for (const OnnxValueInfo& input : inputs) defined.insert(input.name);
  for (const NodeNames& node : nodes) {
    for (const std::string& name : node.inputs) {
      if (!name.empty() && !defined.count(name)) {
        damaged(model.path, "node '" + node.name + "' reads '" + name +
                                "', which no graph input, initializer or earlier node defines");
      }
    }
    defined.insert(node.outputs.begin(), node.outputs.end());
  }
  for (const OnnxValueInfo& output : model.outputs) {
    if (!defined.count(output.name)) damaged(model.path, "the graph output '" + output.name + "' is never computed");
  }
  for (OnnxValueInfo& input : inputs) {
    if (!initializers.count(input.name)) model.inputs.push_back(std::move(input));
  }
}

// Protobuf strings are UTF-8; a damaged file's may not be, and they become Python str.
bool valid_utf8(const std::string& text) {
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    size_t extra = 0;
    uint32_t code = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xe0) == 0xc0) {
      extra = 1, code = c & 0x1f;
    } else if ((c & 0xf0) == 0xe0) {
      extra = 2, code = c & 0x0f;
    } else if ((c & 0xf8) == 0xf0) {
      extra = 3, code = c & 0x07;
    } else {
      return false;
    }
    if (i + extra >= n) return false;
    for (size_t k = 1; k <= extra; ++k) {
      const unsigned char next = static_cast<unsigned char>(text[i + k]);
      if ((next & 0xc0) != 0x80) return false;
      code = (code << 6) | (next & 0x3f);
    }
    static const uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < smallest[extra] || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) return false;
    i += extra + 1;
  }
  return true;
}

std::string dims_text(const OnnxValueInfo& v) {
  std::string out = "(";
  for (size_t i = 0; i < v.dims.size(); ++i) {
    if (i) out += ", ";
    out += v.dims[i] >= 0 ? std::to_string(v.dims[i]) : (v.dim_params[i].empty() ? "?" : v.dim_params[i]);
  }
  return out + ")";
}

const char* type_name(int type) {
  static const char* names[] = {"undefined", "float32", "uint8", "int8", "uint16", "int16", "int32", "int64",
                                "string", "bool", "float16", "float64", "uint32", "uint64", "complex64",
                                "complex128", "bfloat16"};
  return type >= 0 && type < static_cast<int>(sizeof(names) / sizeof(names[0])) ? names[type] : "another type";
}

void check_external_data(const OnnxModelInfo& model) {
  if (model.external_data.empty()) return;
  std::error_code ec;
  const fs::path folder = fs::weakly_canonical(fs::absolute(fs::path(model.path), ec).parent_path(), ec);
  for (const OnnxExternalData& data : model.external_data) {
    const std::string where = "ONNX model '" + model.path + "': tensor '" + data.tensor + "' keeps its data in '" +
                              data.location + "'";
    const fs::path location(data.location);
    if (data.location.empty() || location.is_absolute() || data.location.find('\0') != std::string::npos) {
      throw ModelLoadError(where + ", which is not a file name relative to the model's folder");
    }
    const fs::path file = fs::weakly_canonical(folder / location, ec);
    const fs::path inside = file.lexically_relative(folder);
    if (ec || inside.empty() || *inside.begin() == "..") {
      throw ModelLoadError(where + ", which is outside the model's folder " + folder.string() +
                           "; external data must sit beside the model");
    }
    if (!fs::is_regular_file(file, ec)) {
      throw ModelLoadError(where + ", which does not exist (expected " + file.string() + ")");
    }
    const uint64_t size = fs::file_size(file, ec);
    if (ec) throw ModelLoadError(where + ", which cannot be read: " + ec.message());
    uint64_t needed = data.length >= 0 ? static_cast<uint64_t>(data.length) : data.nbytes;
    if (data.length >= 0 && data.nbytes && static_cast<uint64_t>(data.length) != data.nbytes) {
      throw ModelLoadError(where + " with length " + std::to_string(data.length) + ", but the tensor needs " +
                           std::to_string(data.nbytes) + " bytes");
    }
    if (data.offset > size || needed > size - data.offset) {
      throw ModelLoadError(where + " at bytes " + std::to_string(data.offset) + ".." +
                           std::to_string(data.offset + needed) + ", but that file has " + std::to_string(size) +
                           " bytes (truncated?)");
    }
  }
}

}  // namespace

OnnxModelInfo read_onnx_model(const std::string& path) {
  MappedFile file(path);
  OnnxModelInfo model;
  model.path = path;
  if (file.size() == 0) throw ModelLoadError("ONNX model '" + path + "' is empty");
  Wire top(file.begin(), file.end(), path);
  bool has_graph = false;
  int number = 0, wire = 0;
  while (top.next(number, wire)) {
    if (number == field::kModelIrVersion) {
      top.expect(wire, kVarint, "ir_version");
      model.ir_version = static_cast<int64_t>(top.varint());
    } else if (number == field::kModelGraph) {
      top.expect(wire, kBytes, "graph");
      read_graph(top.bytes(), model);
      has_graph = true;
    } else if (number == field::kModelOpsetImport) {
      top.expect(wire, kBytes, "opset_import");
      Wire opset = top.bytes();
      std::string domain;
      int64_t version = 0;
      int n = 0, w = 0;
      while (opset.next(n, w)) {
        if (n == field::kOpsetDomain && w == kBytes) {
          domain = opset.text();
        } else if (n == field::kOpsetVersion && w == kVarint) {
          version = static_cast<int64_t>(opset.varint());
        } else {
          opset.skip(w);
        }
      }
      if (domain.empty() || domain == "ai.onnx") model.opset = version;
    } else if (number == field::kModelMetadata && wire == kBytes) {
      Wire entry = top.bytes();
      int n = 0, w = 0;
      while (entry.next(n, w)) {
        if ((n == field::kEntryKey || n == field::kEntryValue) && w == kBytes) {
          if (!valid_utf8(entry.text())) damaged(path, "its metadata holds text that is not UTF-8");
        } else {
          entry.skip(w);
        }
      }
    } else {
      top.skip(wire);
    }
  }
  if (!has_graph) damaged(path, "it has no graph");
  for (const std::vector<OnnxValueInfo>* values : {&model.inputs, &model.outputs}) {
    for (const OnnxValueInfo& v : *values) {
      bool ok = valid_utf8(v.name);
      for (const std::string& param : v.dim_params) ok = ok && valid_utf8(param);
      if (!ok) damaged(path, "an input or output name is not UTF-8");
    }
  }
  return model;
}

void check_onnx_image_model(const OnnxModelInfo& model) {
  const std::string name = "ONNX model '" + model.path + "'";
  if (model.opset <= 0 || model.opset > kMaxOnnxOpset) {
    throw ModelLoadError(name + " uses opset " + std::to_string(model.opset) + " of the default domain; fastinfer " +
                         "runs opsets 1 to " + std::to_string(kMaxOnnxOpset));
  }
  if (model.inputs.size() != 1) {
    std::string names;
    for (const OnnxValueInfo& v : model.inputs) names += (names.empty() ? "'" : ", '") + v.name + "'";
    throw ModelLoadError(name + " has " + std::to_string(model.inputs.size()) + " inputs" +
                         (names.empty() ? std::string() : " (" + names + ")") +
                         "; fastinfer runs models with one image input");
  }
  const OnnxValueInfo& input = model.inputs[0];
  if (input.elem_type != 1 || !input.has_shape || input.dims.size() != 4) {
    throw ModelLoadError(name + " input '" + input.name + "' must be a 4-D float32 NCHW tensor, got " +
                         (input.has_shape ? std::to_string(input.dims.size()) + "-D " : std::string("unshaped ")) +
                         type_name(input.elem_type));
  }
  if (model.outputs.empty()) throw ModelLoadError(name + " has no outputs");
  check_external_data(model);
}

void check_blob_shape(const std::string& path, const std::vector<int64_t>& input_dims, const std::vector<int>& shape) {
  if (shape.size() != 4) throw InvalidInputError("the input blob must be NCHW (4 dimensions)");
  bool fits = input_dims.size() == 4;
  for (size_t d = 0; fits && d < 4; ++d) fits = input_dims[d] < 0 || input_dims[d] == shape[d];
  if (fits) return;
  std::string want, got;
  for (size_t k = 0; k < input_dims.size(); ++k) {
    want += (k ? "x" : "") + (input_dims[k] >= 0 ? std::to_string(input_dims[k]) : std::string("?"));
  }
  for (size_t k = 0; k < shape.size(); ++k) got += (k ? "x" : "") + std::to_string(shape[k]);
  throw InvalidInputError("ONNX model '" + path + "' expects input " + want + ", got " + got);
}

}  // namespace fastinfer
