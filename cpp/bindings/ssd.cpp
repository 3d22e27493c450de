// fastinfer._core: the ssd functions (argument checks, GIL release, registration).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <pybind11/stl.h>

#include "common.hpp"
#include "fastinfer/decode_ssd.hpp"

namespace fastinfer::bindings {

namespace {

// (B, N, C) or, for one image, (N, C): the batch size and the (N, C) of one image.
struct Rows {
  size_t images, rows, columns;
};

Rows rows_of(const py::array& a, const char* what, const char* layout) {
  if (a.ndim() != 2 && a.ndim() != 3) {
    throw InvalidInputError(std::string(what) + " must be " + layout + " (or 2-D for one image), got " + shape_of(a));
  }
  const py::ssize_t d = a.ndim() - 2;
  return Rows{a.ndim() == 3 ? static_cast<size_t>(a.shape(0)) : 1, static_cast<size_t>(a.shape(d)),
              static_cast<size_t>(a.shape(d + 1))};
}

py::list postprocess_ssd_py(const py::array& loc_obj, const py::array& logits_obj, const py::array& priors_obj,
                            const py::array& transforms_obj, std::pair<int, int> input_size, float conf, float iou,
                            bool class_agnostic, int max_det, std::pair<float, float> variances,
                            const std::string& scores, std::optional<int> background, bool multi_label,
                            const std::vector<int>& classes) {
  const NmsParams nms = nms_params(conf, iou, class_agnostic, max_det, classes);
  SsdParams params;
  params.net_width = input_size.first;
  params.net_height = input_size.second;
  params.variances = {variances.first, variances.second};
  params.scores = parse_ssd_scores(scores);
  params.background = background.value_or(-1);
  params.multi_label = multi_label;
  if (background && *background < 0) {
    throw InvalidInputError("background must be a score column >= 0 or None, got " + std::to_string(*background));
  }
  params.validate();
  const std::vector<Transform> per_image = transforms_from(transforms_obj);
  auto loc = float_array(loc_obj, "loc");
  auto logits = float_array(logits_obj, "logits");
  auto priors = float_array(priors_obj, "priors");
  const Rows l = rows_of(loc, "loc", "(batch, boxes, 4)");
  const Rows s = rows_of(logits, "logits", "(batch, boxes, classes)");
  if (l.columns != 4) throw InvalidInputError("loc must hold 4 values per box, got shape " + shape_of(loc));
  if (loc.ndim() != logits.ndim() || l.images != s.images || l.rows != s.rows) {
    throw InvalidInputError("loc and logits disagree: shapes " + shape_of(loc) + " and " + shape_of(logits) +
                            " must have the same batch and box counts");
  }
  if (l.images != per_image.size()) {
    throw InvalidInputError("loc of shape " + shape_of(loc) + " holds " + std::to_string(l.images) +
                            " image(s) but transforms has " + std::to_string(per_image.size()) + " rows");
  }
  if (priors.ndim() != 2 || priors.shape(1) != 4) {
    throw InvalidInputError("priors must have shape (N, 4) (cx, cy, w, h), got " + shape_of(priors));
  }
  const SsdPriors prior_boxes{priors.data(), static_cast<size_t>(priors.shape(0))};
  std::vector<DetectionArrays> results(l.images);
  {
    py::gil_scoped_release release;
    for (size_t b = 0; b < l.images; ++b) {
      const SsdOutput image{loc.data() + b * l.rows * 4, logits.data() + b * s.rows * s.columns, l.rows, s.columns};
      results[b] = postprocess_ssd(image, prior_boxes, params, per_image[b], nms);
    }
  }
  py::list out;
  for (DetectionArrays& d : results) out.append(detection_tuple(std::move(d)));
  return out;
}

}  // namespace

void bind_ssd(py::module_& m) {
  m.def("postprocess_ssd", &postprocess_ssd_py, py::arg("loc"), py::arg("logits"), py::arg("priors"),
        py::arg("transforms"), py::arg("input_size"), py::arg("conf") = 0.25f, py::arg("iou") = 0.45f,
        py::arg("class_agnostic") = false, py::arg("max_det") = 200, py::kw_only(),
        py::arg("variances") = std::pair<float, float>{0.1f, 0.2f}, py::arg("scores") = "softmax",
        py::arg("background") = std::optional<int>{0}, py::arg("multi_label") = true,
        py::arg("classes") = std::vector<int>{},
        "SSD outputs -> per image (xyxy, confidence, class_id): boxes decoded against the priors ((N, 4) cx, cy, "
        "w, h normalised) with the centre-size variances, scores by 'softmax', 'sigmoid' or 'raw', every "
        "(box, class) above conf, mapped back, clipped, then NMS per class; class ids skip the background "
        "column. loc (B, N, 4), logits (B, N, K); 2-D for one image. multi_label=False: each box's best class "
        "only. classes: keep only these class ids, dropped before NMS and max_det (empty: all).");
}

}  // namespace fastinfer::bindings
