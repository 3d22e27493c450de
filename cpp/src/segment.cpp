#include "fastinfer/segment.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <sstream>

#include "fastinfer/errors.hpp"

namespace fastinfer {

namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream s;
  s << "(";
  for (size_t i = 0; i < shape.size(); ++i) s << (i ? ", " : "") << shape[i];
  s << (shape.size() == 1 ? ",)" : ")");
  return s.str();
}

// One axis of a resize from `in` cells to `out` pixels: per output index the
// two source cells and their weights. Bilinear: torch's upsample_bilinear2d
// (align_corners=False) arithmetic, in float; nearest: its "nearest-exact".
struct Taps {
  std::vector<int> i0, i1;
  std::vector<float> w0, w1;
};

Taps bilinear_taps(int in, int out) {
  Taps t;
  t.i0.resize(out);
  t.i1.resize(out);
  t.w0.resize(out);
  t.w1.resize(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int d = 0; d < out; ++d) {
    const float src = std::max(scale * (static_cast<float>(d) + 0.5f) - 0.5f, 0.f);
    const int i = std::min(static_cast<int>(src), in - 1);
    const float w1 = std::min(std::max(src - static_cast<float>(i), 0.f), 1.f);
    t.i0[d] = i;
    t.i1[d] = i < in - 1 ? i + 1 : i;
    t.w1[d] = w1;
    t.w0[d] = 1.f - w1;
  }
  return t;
}

std::vector<int> nearest_taps(int in, int out) {
  std::vector<int> taps(out);
  const float scale = static_cast<float>(in) / static_cast<float>(out);
  for (int d = 0; d < out; ++d) {
    // As torch: the product in double, rounded to float, then floored.
    taps[d] = std::min(static_cast<int>(std::floor(static_cast<float>((d + 0.5) * scale))), in - 1);
  }
  return taps;
}

int stripes(const cv::Size& size) { return std::max(1, std::min(size.height, size.area() / 65536)); }

// Rows of the image's score cells interpolated along x to the output width
// (C x W values each), as torch's first pass: w0 * left + w1 * right. A row
// is filled lazily, only at the output columns of the cells asked for, and
// two are held (the source rows above and below the current output row): a
// new row replaces the one not used last.
class RowsAlongX {
 public:
  RowsAlongX(const SegmentOutput& out, const cv::Rect& cells, const Taps& tx, const std::vector<int>& first)
      : out_(out), cells_(cells), tx_(tx), first_(first) {
    for (Slot& s : slots_) {
      s.values.resize(static_cast<size_t>(out.channels) * tx.i0.size());
      s.done.resize(cells.width);
    }
  }

  // Source row `sy` along x, valid at the output columns of cells [begin, end).
  const float* get(int sy, int begin, int end) {
    int slot = slots_[0].row == sy ? 0 : slots_[1].row == sy ? 1 : -1;
    if (slot < 0) {
      slot = 1 - last_;
      slots_[slot].row = sy;
      std::fill(slots_[slot].done.begin(), slots_[slot].done.end(), 0);
    }
    last_ = slot;
    Slot& s = slots_[slot];
    const size_t W = tx_.i0.size();
    const size_t plane = static_cast<size_t>(out_.height) * out_.width;
    for (int j = begin; j < end; ++j) {
      if (s.done[j]) continue;
      s.done[j] = 1;
      for (int c = 0; c < out_.channels; ++c) {
        const float* src = out_.data + c * plane + static_cast<size_t>(cells_.y + sy) * out_.width + cells_.x;
        float* dst = s.values.data() + c * W;
        for (int x = first_[j]; x < first_[j + 1]; ++x) {
          dst[x] = tx_.w0[x] * src[tx_.i0[x]] + tx_.w1[x] * src[tx_.i1[x]];
        }
      }
    }
    return s.values.data();
  }

 private:
  struct Slot {
    int row = -1;
    std::vector<float> values;
    std::vector<uint8_t> done;  // per cell column
  };
  const SegmentOutput& out_;
  const cv::Rect& cells_;
  const Taps& tx_;
  const std::vector<int>& first_;
  Slot slots_[2];
  int last_ = 1;
};

// One channel's scores over a run of n pixels, blended from two rows
// (h0 * a + h1 * b); where they beat `top`, they replace it and `id` becomes
// `channel`. Written so that the compiler vectorises it.
void take_higher(const float* __restrict a, const float* __restrict b, float h0, float h1, int32_t channel, int n,
                 float* __restrict top, int32_t* __restrict id) {
  for (int i = 0; i < n; ++i) {
    const float v = h0 * a[i] + h1 * b[i];
    const float t = top[i];
    const int32_t higher = -static_cast<int32_t>(v > t);  // all ones where v wins (a mask, not a branch)
    id[i] = (id[i] & ~higher) | (channel & higher);
    top[i] = v > t ? v : t;
  }
}

// Bilinear resize of the logits in `cells` to the image size, then the argmax
// per pixel. Bilinear interpolation is a convex combination of the four
// corner cells, so where one class wins at all four corners it wins at every
// pixel between them: those pixels take it directly. The others (near class
// boundaries) blend, as torch does, two source rows already interpolated
// along x (RowsAlongX), then take the argmax across channels for a run of
// pixels at a time.
template <typename Id>
cv::Mat argmax_resized(const SegmentOutput& out, const cv::Rect& cells, const cv::Size& image, int type) {
  const int C = out.channels;
  const int cw = cells.width;
  const int ch = cells.height;
  const int W = image.width;
  const size_t plane = static_cast<size_t>(out.height) * out.width;
  const auto cell_row = [&](int c, int y) {
    return out.data + c * plane + static_cast<size_t>(cells.y + y) * out.width + cells.x;
  };
  // The winning class of each cell (the lowest id on ties).
  std::vector<int32_t> best(static_cast<size_t>(ch) * cw, 0);
  {
    std::vector<float> top(best.size());
    for (int y = 0; y < ch; ++y) std::copy_n(cell_row(0, y), cw, top.data() + static_cast<size_t>(y) * cw);
    for (int c = 1; c < C; ++c) {
      for (int y = 0; y < ch; ++y) {
        const float* row = cell_row(c, y);
        float* t = top.data() + static_cast<size_t>(y) * cw;
        int32_t* b = best.data() + static_cast<size_t>(y) * cw;
        for (int x = 0; x < cw; ++x) {
          if (row[x] > t[x]) {
            t[x] = row[x];
            b[x] = c;
          }
        }
      }
    }
  }
  const Taps tx = bilinear_taps(cw, W);
  const Taps ty = bilinear_taps(ch, image.height);
  // The output columns whose left tap is cell j: first[j] to first[j + 1].
  std::vector<int> first(cw + 1, W);
  for (int x = W - 1; x >= 0; --x) first[tx.i0[x]] = x;
  for (int j = cw - 1; j >= 0; --j) first[j] = std::min(first[j], first[j + 1]);
  cv::Mat result(image, type);
  cv::parallel_for_(cv::Range(0, image.height), [&](const cv::Range& rows) {
    std::vector<int32_t> uniform(cw);
    RowsAlongX along_x(out, cells, tx, first);
    std::vector<float> top(W);
    std::vector<int32_t> id(W);
    for (int y = rows.start; y < rows.end; ++y) {
      const int y0 = ty.i0[y], y1 = ty.i1[y];
      const float h0 = ty.w0[y], h1 = ty.w1[y];
      const int32_t* b0 = best.data() + static_cast<size_t>(y0) * cw;
      const int32_t* b1 = best.data() + static_cast<size_t>(y1) * cw;
      for (int x = 0; x < cw; ++x) {
        const int x1 = std::min(x + 1, cw - 1);
        const int32_t k = b0[x];
        uniform[x] = (b0[x1] == k && b1[x] == k && b1[x1] == k) ? k : -1;
      }
      Id* dst = result.ptr<Id>(y);
      for (int cell = 0; cell < cw;) {
        if (uniform[cell] >= 0) {
          std::fill(dst + first[cell], dst + first[cell + 1], static_cast<Id>(uniform[cell]));
          ++cell;
          continue;
        }
        int next = cell + 1;
        while (next < cw && uniform[next] < 0) ++next;
        const int x = first[cell];
        const int n = first[next] - x;
        if (n == 0) {
          cell = next;
          continue;
        }
        const float* r0 = along_x.get(y0, cell, next);
        const float* r1 = along_x.get(y1, cell, next);
        cell = next;
        float* t = top.data();
        int32_t* k = id.data();
        for (int i = 0; i < n; ++i) {
          t[i] = h0 * r0[x + i] + h1 * r1[x + i];
          k[i] = 0;
        }
        for (int c = 1; c < C; ++c) {
          const size_t offset = static_cast<size_t>(c) * W + x;
          take_higher(r0 + offset, r1 + offset, h0, h1, c, n, t, k);
        }
        for (int i = 0; i < n; ++i) dst[x + i] = static_cast<Id>(k[i]);
      }
    }
  }, stripes(image));
  return result;
}

template <typename Id>
cv::Mat nearest_resized(const SegmentOutput& out, const cv::Rect& cells, const cv::Size& image, int type) {
  const std::vector<int> tx = nearest_taps(cells.width, image.width);
  const std::vector<int> ty = nearest_taps(cells.height, image.height);
  cv::Mat result(image, type);
  cv::parallel_for_(cv::Range(0, image.height), [&](const cv::Range& rows) {
    for (int y = rows.start; y < rows.end; ++y) {
      const float* src = out.data + static_cast<size_t>(cells.y + ty[y]) * out.width + cells.x;
      Id* dst = result.ptr<Id>(y);
      for (int x = 0; x < image.width; ++x) dst[x] = static_cast<Id>(src[tx[x]]);
    }
  }, stripes(image));
  return result;
}

// The largest id in the region; every id must be a whole number in
// [0, num_classes) (any non-negative one when num_classes is 0).
int largest_id(const SegmentOutput& out, const cv::Rect& cells, int num_classes) {
  float top = 0.f;
  for (int y = cells.y; y < cells.y + cells.height; ++y) {
    const float* row = out.data + static_cast<size_t>(y) * out.width;
    for (int x = cells.x; x < cells.x + cells.width; ++x) {
      const float v = row[x];
      const bool bad = !(v >= 0.f && v < 16777216.f && v == std::floor(v)) || (num_classes > 0 && v >= num_classes);
      if (bad) {
        std::ostringstream msg;
        msg << "class map value " << v << " at (row " << y << ", column " << x << ") is not a class id: expected "
            << (num_classes > 0 ? "a whole number in [0, " + std::to_string(num_classes) + ")"
                                : std::string("a whole number >= 0"));
        throw InvalidInputError(msg.str());
      }
      top = std::max(top, v);
    }
  }
  return static_cast<int>(top);
}

}  // namespace

void check_segment_output(const std::vector<int64_t>& shape, int net_width, int net_height) {
  const std::string given = "model output of shape " + shape_text(shape);
  if (shape.size() != 3 && shape.size() != 4) {
    throw InvalidInputError(given + " is not a segmentation output: expected (B, C, h, w) class scores or a "
                            "(B, h, w) class map");
  }
  if (shape.size() == 4 && shape[1] < 2) {
    throw InvalidInputError(given + " has " + std::to_string(shape[1]) +
                            " class channel(s): expected (B, C, h, w) scores for C >= 2 classes");
  }
  const int64_t h = shape[shape.size() - 2];
  const int64_t w = shape[shape.size() - 1];
  if (h < 2 || w < 2) {
    throw InvalidInputError(given + " has a " + std::to_string(h) + "x" + std::to_string(w) +
                            " grid (a classifier's scores?): expected a map of at least 2x2 cells");
  }
  const double off_h = std::abs(static_cast<double>(h) - static_cast<double>(w) * net_height / net_width);
  const double off_w = std::abs(static_cast<double>(w) - static_cast<double>(h) * net_width / net_height);
  if (off_h > 1.0 + 1e-9 || off_w > 1.0 + 1e-9) {
    std::ostringstream msg;
    msg << given << " is not a segmentation output for a " << net_width << "x" << net_height
        << " input: expected (B, C, h, w) class scores or a (B, h, w) class map whose h:w follows the input's "
        << net_height << ":" << net_width << " (within one cell), got h:w " << h << ":" << w
        << " (a detector's rows?)";
    throw InvalidInputError(msg.str());
  }
}

cv::Rect image_cells(const Transform& t, int net_width, int net_height, int grid_width, int grid_height) {
  const double x0 = static_cast<double>(t.pad_x) * grid_width / net_width;
  const double y0 = static_cast<double>(t.pad_y) * grid_height / net_height;
  const double x1 = (static_cast<double>(t.pad_x) + t.image_width * static_cast<double>(t.scale_x)) * grid_width /
                    net_width;
  const double y1 = (static_cast<double>(t.pad_y) + t.image_height * static_cast<double>(t.scale_y)) * grid_height /
                    net_height;
  if (x0 < -0.5 || y0 < -0.5 || x1 > grid_width + 0.5 || y1 > grid_height + 0.5) {
    std::ostringstream msg;
    msg << "the " << t.image_width << "x" << t.image_height << " image does not lie inside the " << net_width << "x"
        << net_height << " network input (it spans x " << x0 * net_width / grid_width << " to "
        << x1 * net_width / grid_width << ", y " << y0 * net_height / grid_height << " to "
        << y1 * net_height / grid_height
        << "): segmentation maps need the whole image in the input (stretch, letterbox or pad_resize, not crop)";
    throw InvalidInputError(msg.str());
  }
  const auto cell = [](double v, int n) { return std::min(std::max(static_cast<int>(std::floor(v + 0.5)), 0), n); };
  const int cx0 = std::min(cell(x0, grid_width), grid_width - 1);
  const int cy0 = std::min(cell(y0, grid_height), grid_height - 1);
  const int cx1 = std::max(cell(x1, grid_width), cx0 + 1);
  const int cy1 = std::max(cell(y1, grid_height), cy0 + 1);
  return cv::Rect(cx0, cy0, cx1 - cx0, cy1 - cy0);
}

cv::Mat segment(const SegmentOutput& output, const Transform& transform, int net_width, int net_height,
                int num_classes) {
  if (output.data == nullptr) throw InvalidInputError("segment: the output has no data");
  std::vector<int64_t> shape{1};
  if (output.channels != 0) shape.push_back(output.channels);
  shape.insert(shape.end(), {output.height, output.width});
  check_segment_output(shape, net_width, net_height);
  if (transform.image_width <= 0 || transform.image_height <= 0) {
    throw InvalidInputError("segment: the transform's image size must be positive, got " +
                            std::to_string(transform.image_width) + "x" + std::to_string(transform.image_height));
  }
  const cv::Rect cells = image_cells(transform, net_width, net_height, output.width, output.height);
  const cv::Size image(transform.image_width, transform.image_height);
  if (output.channels > 0) {
    return output.channels <= 256 ? argmax_resized<uint8_t>(output, cells, image, CV_8U)
                                  : argmax_resized<int32_t>(output, cells, image, CV_32S);
  }
  return largest_id(output, cells, num_classes) <= 255 ? nearest_resized<uint8_t>(output, cells, image, CV_8U)
                                                        : nearest_resized<int32_t>(output, cells, image, CV_32S);
}

}  // namespace fastinfer
