// Semantic segmentation: a network's per-pixel output -> one class id per
// pixel of the original image.
//
// Two output layouts, one image at a time:
//   logits     C planes of h x w scores (C >= 2), at the network input's
//              resolution or a fraction of it (stride 4, 8, ...).
//   class map  h x w class ids already taken by the model (an ArgMax in the
//              graph), as float values.
//
// The image's region on the output grid is the transform's image rectangle
// scaled by grid / input and rounded to whole cells (letterbox padding falls
// outside it); that region is resized to the original image size, bilinearly
// for logits (cv::resize INTER_LINEAR, torch's
// F.interpolate(mode="bilinear", align_corners=False)) before the per-pixel
// argmax, by nearest neighbour for class maps (torch's "nearest-exact").
#pragma once

#include <string>
#include <vector>

#include <opencv2/core.hpp>

#include "fastinfer/preprocess.hpp"

namespace fastinfer {

// One image's output. channels == 0: a class map of height x width ids.
struct SegmentOutput {
  const float* data = nullptr;
  int channels = 0;
  int height = 0;
  int width = 0;
};

// Checks that a (B, C, h, w) or (B, h, w) output (`shape`) is a segmentation
// output for a net_width x net_height input: C >= 2, a grid of at least 2x2
// cells whose aspect follows the input's (within one cell). Throws
// InvalidInputError naming the shape otherwise (a detector's rows or a
// classifier's scores, say).
void check_segment_output(const std::vector<int64_t>& shape, int net_width, int net_height);

// The cells of an output grid (grid_width x grid_height) that hold the image:
// its rectangle in the network input, x * grid_width / net_width and
// y * grid_height / net_height, each edge rounded to the nearest cell
// (floor(v + 0.5)). Throws InvalidInputError when the image does not lie
// inside the input (crop mode cuts part of it off).
cv::Rect image_cells(const Transform& transform, int net_width, int net_height, int grid_width, int grid_height);

// The class of each pixel of the original image (transform.image_height x
// transform.image_width): CV_8U when the ids fit (C <= 256, or a class map's
// largest id <= 255), else CV_32S. Ties go to the lowest class id. For a
// class map, `num_classes` > 0 bounds the ids; every id must be a whole
// number in [0, num_classes). Rows run in parallel (cv::parallel_for_).
cv::Mat segment(const SegmentOutput& output, const Transform& transform, int net_width, int net_height,
                int num_classes = 0);

}  // namespace fastinfer
