#include "fastinfer/decode_heads.hpp"

#include <algorithm>
#include <cmath>
#include <string>

#include "fastinfer/errors.hpp"

namespace fastinfer {

Head parse_head(const std::string& name) {
  if (name == "darknet") return Head::kDarknet;
  if (name == "yolov5") return Head::kYolov5;
  if (name == "yolov8" || name == "yolo11") return Head::kYolov8;
  if (name == "yolox") return Head::kYolox;
  throw InvalidInputError("head must be 'darknet', 'yolov5', 'yolov8' (or 'yolo11') or 'yolox', got '" + name + "'");
}

const char* head_name(Head head) {
  switch (head) {
    case Head::kDarknet: return "darknet";
    case Head::kYolov5: return "yolov5";
    case Head::kYolov8: return "yolov8";
    case Head::kYolox: return "yolox";
  }
  return "?";
}

namespace {

std::string join(const std::vector<int>& values) {
  std::string s;
  for (size_t i = 0; i < values.size(); ++i) s += (i ? ", " : "") + std::to_string(values[i]);
  return s;
}

size_t cells(int extent, int stride) { return static_cast<size_t>((extent + stride - 1) / stride); }

struct Box {
  float cx, cy, w, h;
};

void emit(const Box& b, float score, int class_id, const Transform& t, DetectionArrays& out) {
  const float hw = b.w * 0.5f;
  const float hh = b.h * 0.5f;
  out.xyxy.insert(out.xyxy.end(), {(b.cx - hw - t.pad_x) / t.scale_x, (b.cy - hh - t.pad_y) / t.scale_y,
                                   (b.cx + hw - t.pad_x) / t.scale_x, (b.cy + hh - t.pad_y) / t.scale_y});
  out.confidence.push_back(score);
  out.class_id.push_back(class_id);
}

// yolov8 / YOLO11: channel-major, read in place. Pass 1 takes the best score
// of a block of anchors across the class planes (contiguous reads, a plain
// max the compiler vectorises); pass 2 finds the class of the few anchors
// above `conf`: the first class holding that score.
void decode_channel_major(const HeadOutput& o, const Transform& t, float conf, bool multi_label,
                          DetectionArrays& out) {
  constexpr size_t kBlock = 1024;
  const size_t n = o.anchors;
  const size_t classes = o.channels - 4;
  const float* planes = o.data + 4 * n;
  float best[kBlock];
  for (size_t start = 0; start < n; start += kBlock) {
    const size_t len = std::min(kBlock, n - start);
    std::copy(planes + start, planes + start + len, best);
    for (size_t c = 1; c < classes; ++c) {
      const float* plane = planes + c * n + start;
      for (size_t i = 0; i < len; ++i) best[i] = plane[i] > best[i] ? plane[i] : best[i];
    }
    for (size_t i = 0; i < len; ++i) {
      if (!(best[i] > conf)) continue;
      const size_t a = start + i;
      const Box box{o.data[a], o.data[n + a], o.data[2 * n + a], o.data[3 * n + a]};
      if (multi_label) {
        for (size_t c = 0; c < classes; ++c) {
          const float score = planes[c * n + a];
          if (score > conf) emit(box, score, static_cast<int>(c), t, out);
        }
        continue;
      }
      size_t c = 0;
      while (planes[c * n + a] != best[i]) ++c;
      emit(box, best[i], static_cast<int>(c), t, out);
    }
  }
}

// yolov5 and yolox rows: score = max_c(obj * cls_c), the first maximum.
template <typename BoxOf>
void decode_rows(const HeadOutput& o, const Transform& t, float conf, bool multi_label, BoxOf box_of,
                 DetectionArrays& out) {
  const size_t classes = o.channels - 5;
  for (size_t r = 0; r < o.anchors; ++r) {
    const float* row = o.data + r * o.channels;
    const float obj = row[4];
    if (!(obj > conf)) continue;
    const float* cls = row + 5;
    if (multi_label) {
      bool decoded = false;
      Box box{};
      for (size_t c = 0; c < classes; ++c) {
        const float score = obj * cls[c];
        if (!(score > conf)) continue;
        if (!decoded) box = box_of(r, row);
        decoded = true;
        emit(box, score, static_cast<int>(c), t, out);
      }
      continue;
    }
    float best = obj * cls[0];
    int best_class = 0;
    for (size_t c = 1; c < classes; ++c) {
      const float score = obj * cls[c];
      if (score > best) {
        best = score;
        best_class = static_cast<int>(c);
      }
    }
    if (!(best > conf)) continue;
    emit(box_of(r, row), best, best_class, t, out);
  }
}

}  // namespace

void HeadParams::validate() const {
  if (net_width <= 0 || net_height <= 0) {
    throw InvalidInputError("input size must be positive, got " + std::to_string(net_width) + "x" +
                            std::to_string(net_height));
  }
  if (head == Head::kYolox) {
    if (strides.empty()) throw InvalidInputError("yolox needs at least one stride, got none");
    for (int s : strides) {
      if (s <= 0) throw InvalidInputError("strides must be positive, got " + join(strides));
    }
  }
}

size_t HeadParams::yolox_rows() const {
  size_t rows = 0;
  for (int s : strides) rows += cells(net_width, s) * cells(net_height, s);
  return rows;
}

void check_head_output(const HeadOutput& o, const HeadParams& p) {
  p.validate();
  const char* name = head_name(p.head);
  const bool channel_major = p.head == Head::kYolov8;
  if (o.channels < (channel_major ? 5u : 6u)) {
    throw InvalidInputError(std::string(name) + " output needs at least " +
                            (channel_major ? "5 channels (4 box + 1 class)"
                                           : "6 values per row (4 box + objectness + 1 class)") +
                            ", got " + std::to_string(o.channels));
  }
  if (p.head == Head::kYolox && o.anchors != p.yolox_rows()) {
    throw InvalidInputError("yolox output for a " + std::to_string(p.net_width) + "x" + std::to_string(p.net_height) +
                            " input with strides " + join(p.strides) + " must have " + std::to_string(p.yolox_rows()) +
                            " rows (sum of ceil(H/s) * ceil(W/s)), got " + std::to_string(o.anchors));
  }
  if (o.data == nullptr && o.anchors > 0) throw InvalidInputError(std::string(name) + " output has no data");
}

void decode_head(const HeadOutput& o, const HeadParams& p, const Transform& t, float conf, DetectionArrays& out) {
  check_head_output(o, p);
  switch (p.head) {
    case Head::kDarknet:
      decode_darknet_rows(RowBlock{o.data, o.anchors}, o.channels, p.net_width, p.net_height, t, conf, out, false,
                          p.multi_label);
      break;
    case Head::kYolov8:
      decode_channel_major(o, t, conf, p.multi_label, out);
      break;
    case Head::kYolov5:
      decode_rows(o, t, conf, p.multi_label,
                  [](size_t, const float* row) { return Box{row[0], row[1], row[2], row[3]}; }, out);
      break;
    case Head::kYolox: {
      // First row of each stride's grid, then the row -> (stride, cell) lookup.
      std::vector<size_t> first{0};
      for (int s : p.strides) first.push_back(first.back() + cells(p.net_width, s) * cells(p.net_height, s));
      auto box_of = [&](size_t r, const float* row) {
        size_t level = 0;
        while (r >= first[level + 1]) ++level;
        const int s = p.strides[level];
        const size_t cell = r - first[level];
        const size_t columns = cells(p.net_width, s);
        const float stride = static_cast<float>(s);
        return Box{(row[0] + static_cast<float>(cell % columns)) * stride,
                   (row[1] + static_cast<float>(cell / columns)) * stride, std::exp(row[2]) * stride,
                   std::exp(row[3]) * stride};
      };
      decode_rows(o, t, conf, p.multi_label, box_of, out);
      break;
    }
  }
}

DetectionArrays postprocess_head(const HeadOutput& output, const HeadParams& params, const Transform& transform,
                                 const NmsParams& nms_params) {
  nms_params.validate();
  DetectionArrays candidates;
  decode_head(output, params, transform, nms_params.score_threshold, candidates);
  // Suppression runs on the unclipped boxes; only the kept boxes are clipped.
  return suppress_and_clip(candidates, transform, nms_params);
}

}  // namespace fastinfer
