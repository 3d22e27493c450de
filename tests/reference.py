"""Reference implementations the tests compare fastinfer against.

* :class:`ReferenceYolo`: the classic pure-Python OpenCV YOLO demo
  (``cv2.dnn`` + numpy), as found in countless tutorials: blob with
  ``blobFromImage(img, 1/255, (416, 416), swapRB=True, crop=False)``, forward
  to the unconnected output layers, per-row ``argmax`` of the class scores,
  integer boxes, then ``cv2.dnn.NMSBoxes`` -- here once per class, and with the
  tutorials' well-known indexing bug (``boxes[i]`` instead of
  ``boxes[indices[i]]``) fixed.
* :func:`cv2_nms`: ``cv2.dnn.NMSBoxes`` on ``xyxy`` boxes, class-agnostic or
  per class, merged the way fastinfer documents it.
* :func:`numpy_nms`: greedy NMS written from its definition, to cross-check
  both of the above.
* :func:`postprocess_head_reference`: the YOLO heads (``yolov5``, ``yolov8``,
  ``yolox``, ``darknet``) decoded in numpy from their definitions, then
  :func:`cv2_nms`; :func:`yolox_grid` is YOLOX's grid.
* :func:`ultralytics_letterbox`: Ultralytics' ``LetterBox`` as its source
  writes it (one ratio, ``round()`` sizes, ``copyMakeBorder``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

# ---------------------------------------------------------------- detection


def clip_xyxy(xyxy: np.ndarray, width: int, height: int) -> np.ndarray:
    """A float64 copy of ``x1, y1, x2, y2`` boxes clipped to a ``width`` x ``height`` image."""
    out = np.array(xyxy, dtype=np.float64).reshape(-1, 4)
    out[:, [0, 2]] = out[:, [0, 2]].clip(0, width)
    out[:, [1, 3]] = out[:, [1, 3]].clip(0, height)
    return out


@dataclass
class ReferenceDetections:
    """What the classic demo finds in one image.

    The demo truncates centre, size and corner to ints, so its ``x1``/``y1``
    are up to 1.5 px and its ``x2``/``y2`` up to 2 px off the network's box;
    ``exact_xyxy`` keeps the boxes of the same rows before that truncation.
    """

    boxes: np.ndarray  # (N, 4) int: left, top, width, height (the demo's boxes)
    confidence: np.ndarray  # (N,) float32
    class_id: np.ndarray  # (N,) int64
    exact_xyxy: np.ndarray  # (N, 4) float64: the same boxes without the demo's int() truncations

    @property
    def xyxy(self) -> np.ndarray:
        """The demo's integer boxes as x1, y1, x2, y2 (float64)."""
        b = self.boxes.astype(np.float64).reshape(-1, 4)
        return np.stack([b[:, 0], b[:, 1], b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]], axis=1)

    def clipped_xyxy(self, width: int, height: int, *, exact: bool = False) -> np.ndarray:
        """``xyxy`` (or ``exact_xyxy``) clipped to a ``width`` x ``height`` image."""
        return clip_xyxy(self.exact_xyxy if exact else self.xyxy, width, height)

    def __len__(self) -> int:
        return len(self.confidence)


class ReferenceYolo:
    """The classic OpenCV-Python Darknet YOLO demo."""

    def __init__(self, cfg: Path, weights: Path, *, input_size: tuple[int, int] = (416, 416),
                 conf: float = 0.25, nms: float = 0.45) -> None:
        self.net = cv2.dnn.readNetFromDarknet(str(cfg), str(weights))
        self.net.setPreferableBackend(cv2.dnn.DNN_BACKEND_OPENCV)
        self.net.setPreferableTarget(cv2.dnn.DNN_TARGET_CPU)
        self.output_names = self.net.getUnconnectedOutLayersNames()
        self.input_size = input_size
        self.conf = conf
        self.nms = nms

    def blob(self, image: np.ndarray) -> np.ndarray:
        return cv2.dnn.blobFromImage(image, 1 / 255.0, self.input_size, swapRB=True, crop=False)

    def forward(self, blob: np.ndarray) -> list[np.ndarray]:
        self.net.setInput(blob)
        return list(self.net.forward(self.output_names))

    def detect(self, image: np.ndarray) -> ReferenceDetections:
        frame_height, frame_width = image.shape[:2]
        outputs = self.forward(self.blob(image))

        class_ids, confidences, boxes, exact = [], [], [], []
        for output in outputs:
            for detection in output:
                scores = detection[5:]
                class_id = int(np.argmax(scores))
                confidence = scores[class_id]
                if confidence > self.conf:
                    center_x = int(detection[0] * frame_width)
                    center_y = int(detection[1] * frame_height)
                    width = int(detection[2] * frame_width)
                    height = int(detection[3] * frame_height)
                    left = int(center_x - width / 2)
                    top = int(center_y - height / 2)
                    class_ids.append(class_id)
                    confidences.append(float(confidence))
                    boxes.append([left, top, width, height])
                    # The same box without the truncations (not in the demo).
                    cx, cy, w, h = (float(v) for v in detection[:4])
                    exact.append([(cx - w / 2) * frame_width, (cy - h / 2) * frame_height,
                                  (cx + w / 2) * frame_width, (cy + h / 2) * frame_height])

        # NMS once per class; indices[i] indexes the class's own lists.
        kept: list[int] = []
        for cls in sorted(set(class_ids)):
            members = [i for i, c in enumerate(class_ids) if c == cls]
            indices = cv2.dnn.NMSBoxes([boxes[i] for i in members], [confidences[i] for i in members],
                                       self.conf, self.nms)
            kept.extend(members[int(k)] for k in np.asarray(indices).reshape(-1))

        return ReferenceDetections(
            boxes=np.array([boxes[i] for i in kept], dtype=np.int64).reshape(-1, 4),
            confidence=np.array([confidences[i] for i in kept], dtype=np.float32),
            class_id=np.array([class_ids[i] for i in kept], dtype=np.int64),
            exact_xyxy=np.array([exact[i] for i in kept], dtype=np.float64).reshape(-1, 4),
        )


# ---------------------------------------------------------------- NMS


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    """float32 ``x1, y1, x2, y2`` -> float64 ``x, y, w, h`` (as ``cv::Rect2d`` holds them)."""
    b = np.asarray(boxes, dtype=np.float32).astype(np.float64).reshape(-1, 4)
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], axis=1)


def _merge(kept: list[int], scores: np.ndarray, max_det: int) -> np.ndarray:
    """Sorts kept indices by score (descending), then index; truncates to ``max_det`` (0: all)."""
    order = sorted(kept, key=lambda i: (-float(scores[i]), i))
    if max_det > 0:
        order = order[:max_det]
    return np.array(order, dtype=np.int64)


def cv2_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None, *, conf: float = 0.0,
            iou: float = 0.45, class_agnostic: bool = False, max_det: int = 0) -> np.ndarray:
    """``cv2.dnn.NMSBoxes`` over all boxes, or once per class; merged by score desc, then index."""
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    xywh = xyxy_to_xywh(boxes)
    if class_ids is None or class_agnostic:
        groups = [np.arange(len(scores))]
    else:
        class_ids = np.asarray(class_ids).reshape(-1)
        groups = [np.flatnonzero(class_ids == c) for c in np.unique(class_ids)]
    kept: list[int] = []
    for members in groups:
        if len(members) == 0:
            continue
        indices = cv2.dnn.NMSBoxes(xywh[members].tolist(), scores[members].tolist(), conf, iou)
        kept.extend(int(members[k]) for k in np.asarray(indices, dtype=np.int64).reshape(-1))
    return _merge(kept, scores, max_det)


def iou_matrix(boxes: np.ndarray) -> np.ndarray:
    """Pairwise intersection over union of ``x1, y1, x2, y2`` boxes, in float64.

    Two boxes without area (their union is empty) count as fully overlapping,
    IoU 1, as OpenCV counts them.
    """
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    area = (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    iw = np.minimum(b[:, None, 2], b[None, :, 2]) - np.maximum(b[:, None, 0], b[None, :, 0])
    ih = np.minimum(b[:, None, 3], b[None, :, 3]) - np.maximum(b[:, None, 1], b[None, :, 1])
    inter = np.where((iw > 0) & (ih > 0), iw * ih, 0.0)
    areas = area[:, None] + area[None, :]
    has_area = areas > np.finfo(np.float64).eps
    return np.divide(inter, areas - inter, out=np.ones_like(inter), where=has_area)


def numpy_nms(boxes: np.ndarray, scores: np.ndarray, class_ids: np.ndarray | None = None, *, conf: float = 0.0,
              iou: float = 0.45, class_agnostic: bool = False, max_det: int = 0) -> np.ndarray:
    """Greedy NMS from the definition.

    Candidates are the boxes scoring strictly above ``conf`` (scores are
    float32, and so is ``conf`` in the native API), visited by score
    (descending; ties in input order). A candidate is kept unless its IoU with
    an already kept box of the same group (its class, or all boxes when
    class-agnostic) is above ``iou``.
    """
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    scores = np.asarray(scores, dtype=np.float32).reshape(-1)
    if class_ids is None or class_agnostic:
        group = [0] * len(scores)
    else:
        group = np.asarray(class_ids, dtype=np.int64).reshape(-1).tolist()
    overlap = iou_matrix(boxes).tolist()
    candidates = [i for i in range(len(scores)) if scores[i] > np.float32(conf)]
    order = sorted(candidates, key=lambda i: (-float(scores[i]), i))
    kept: list[int] = []
    for i in order:
        if all(group[k] != group[i] or overlap[i][k] <= iou for k in kept):
            kept.append(i)
    return _merge(kept, scores, max_det)


# ---------------------------------------------------------------- YOLO heads


HEAD_STRIDES = (8, 16, 32)


def yolox_grid(input_size: tuple[int, int], strides=HEAD_STRIDES) -> np.ndarray:
    """``(N, 3)`` float64 rows ``gx, gy, stride``: each stride's ``ceil(H/s) x ceil(W/s)`` cells, row-major."""
    width, height = input_size
    levels = []
    for s in strides:
        gy, gx = np.mgrid[0:-(-height // s), 0:-(-width // s)]
        levels.append(np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, s)], axis=1))
    return np.concatenate(levels).astype(np.float64)


def head_candidates(output: np.ndarray, head: str, input_size: tuple[int, int], conf: float,
                    strides=HEAD_STRIDES, multi_label: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's head output -> ``(cx_cy_w_h, score, class_id)`` of the anchors scoring strictly above ``conf``.

    Boxes are float64 network-input pixels; scores are float32 as the model
    gives them (``obj * cls`` multiplied in float32 for the heads with
    objectness); the class is the first maximum. ``multi_label``: every
    (anchor, class) scoring above ``conf`` instead, anchor-major.

    * ``yolov8``: ``(4+C, N)``, boxes in pixels, score = best class score.
    * ``yolov5``: ``(N, 5+C)``, boxes in pixels, score = best ``obj * cls``.
    * ``yolox``: ``(N, 5+C)``, boxes relative to the grid cell of ``yolox_grid``.
    * ``darknet``: ``(N, 5+C)``, boxes as fractions of the input, score = best class score.
    """
    width, height = input_size
    if head == "yolov8":
        rows = np.ascontiguousarray(output.T)
        box, scores = rows[:, :4].astype(np.float64), rows[:, 4:]
    else:
        rows = output
        box = rows[:, :4].astype(np.float64)
        if head == "darknet":
            scores = rows[:, 5:]
            box = box * [width, height, width, height]
        else:
            scores = rows[:, 4:5] * rows[:, 5:]  # float32 products
            if head == "yolox":
                grid = yolox_grid(input_size, strides)
                box = np.concatenate([(box[:, :2] + grid[:, :2]) * grid[:, 2:],
                                      np.exp(rows[:, 2:4]).astype(np.float64) * grid[:, 2:]], axis=1)
            elif head != "yolov5":
                raise ValueError(f"unknown head {head!r}")
    if multi_label:
        anchor, cls = np.nonzero(scores > np.float32(conf))
        return box[anchor], scores[anchor, cls].astype(np.float32), cls.astype(np.int64)
    best = scores.argmax(axis=1) if len(rows) else np.zeros(0, np.int64)
    score = scores[np.arange(len(rows)), best]
    keep = score > np.float32(conf)
    return box[keep], score[keep].astype(np.float32), best[keep].astype(np.int64)


def postprocess_head_reference(output: np.ndarray, transforms: np.ndarray, input_size: tuple[int, int], head: str,
                               conf: float = 0.25, iou: float = 0.45, class_agnostic: bool = False, max_det: int = 0,
                               strides=HEAD_STRIDES, multi_label: bool = False
                               ) -> list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]:
    """Per image ``(xyxy, confidence, class_id, unclipped_xyxy)`` for a batched head output, in numpy + cv2.

    Boxes map back with ``x_img = (x_net - pad_x) / scale_x``; NMS
    (``cv2.dnn.NMSBoxes``, per class unless ``class_agnostic``) runs on the
    unclipped boxes, then the kept boxes are clipped to the image.
    ``unclipped_xyxy`` holds every candidate before NMS.
    """
    batch = len(transforms)
    output = output.reshape(batch, *output.shape[-2:])
    results = []
    for b in range(batch):
        box, score, cls = head_candidates(output[b], head, input_size, conf, strides, multi_label)
        sx, sy, px, py, image_w, image_h = (float(v) for v in transforms[b])
        cx, cy, w, h = box.T
        xyxy = np.stack([(cx - w / 2 - px) / sx, (cy - h / 2 - py) / sy,
                         (cx + w / 2 - px) / sx, (cy + h / 2 - py) / sy], axis=1).reshape(-1, 4)
        kept = cv2_nms(xyxy.astype(np.float32), score, cls, conf=conf, iou=iou, class_agnostic=class_agnostic,
                       max_det=max_det)
        results.append((clip_xyxy(xyxy[kept], image_w, image_h), score[kept], cls[kept], xyxy))
    return results


def ultralytics_letterbox(image: np.ndarray, size: tuple[int, int], *, center: bool = True,
                          pad: int = 114) -> np.ndarray:
    """Ultralytics' ``LetterBox`` (8.x) on a BGR image, to ``size = (width, height)``, from its source.

    One ratio ``r``, ``round()`` sizes, ``cv2.resize`` (bilinear), then
    ``copyMakeBorder`` with ``round(d -/+ 0.1)`` borders.
    """
    shape = image.shape[:2]
    new_shape = (size[1], size[0])
    r = min(new_shape[0] / shape[0], new_shape[1] / shape[1])
    new_unpad = int(round(shape[1] * r)), int(round(shape[0] * r))
    dw, dh = new_shape[1] - new_unpad[0], new_shape[0] - new_unpad[1]
    if center:
        dw /= 2
        dh /= 2
    if shape[::-1] != new_unpad:
        image = cv2.resize(image, new_unpad, interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)) if center else 0, int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)) if center else 0, int(round(dw + 0.1))
    return cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(pad, pad, pad))
