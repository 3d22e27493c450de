"""Tests of fastinfer.Detections: validation, selection, serialisation, drawing, supervision."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

import fastinfer
from fastinfer import Detections

NAMES = ("person", "bicycle", "car")


def make() -> Detections:
    """Three detections; the last one has a class id without a name."""
    xyxy = np.array([[10, 20, 50, 60], [30, 40, 90, 100], [0, 0, 5, 5]], np.float32)
    confidence = np.array([0.9, 0.5, 0.3], np.float32)
    class_id = np.array([0, 2, 7])
    return Detections(xyxy, confidence, class_id, NAMES, {"backend": "test", "score": np.float32(1.5),
                                                           "size": np.array([640, 480])})


def supervision():
    """The supervision package, which the test dependencies install; fails (not skips) when it cannot import."""
    try:
        import supervision as sv
    except ImportError as exc:
        pytest.fail(f"supervision is a test dependency but cannot be imported: {exc!r}", pytrace=False)
    return sv


def same(a: Detections, b: Detections) -> None:
    np.testing.assert_array_equal(a.xyxy, b.xyxy)
    np.testing.assert_array_equal(a.confidence, b.confidence)
    np.testing.assert_array_equal(a.class_id, b.class_id)
    assert a.names == b.names


# ---------------------------------------------------------------- construction


def test_construction_normalises_dtypes_and_shapes():
    dets = Detections([[1, 2, 3, 4]], [0.5], [3], ["a"])
    assert dets.xyxy.dtype == np.float32 and dets.xyxy.shape == (1, 4)
    assert dets.confidence.dtype == np.float32 and dets.confidence.shape == (1,)
    assert dets.class_id.dtype == np.int64 and dets.class_id.shape == (1,)
    assert dets.names == ("a",)
    assert dets.metadata == {}


def test_construction_from_empty_lists():
    dets = Detections([], [], [])
    assert len(dets) == 0
    assert dets.xyxy.shape == (0, 4)


@pytest.mark.parametrize(
    "xyxy, confidence, class_id, pattern",
    [
        (np.zeros((3, 4)), np.zeros(2), np.zeros(3), r"confidence must have shape \(3,\), got \(2,\)"),
        (np.zeros((3, 4)), np.zeros(3), np.zeros(4), r"class_id must have shape \(3,\), got \(4,\)"),
        (np.zeros((3, 5)), np.zeros(3), np.zeros(3), r"xyxy must have shape \(N, 4\), got \(3, 5\)"),
        (np.zeros(5), np.zeros(1), np.zeros(1), r"xyxy must have shape \(N, 4\), got \(5,\)"),
        (np.zeros((2, 2, 4)), np.zeros(2), np.zeros(2), r"xyxy must have shape \(N, 4\), got \(2, 2, 4\)"),
        (np.zeros((0, 4)), np.zeros(1), np.zeros(0), r"confidence must have shape \(0,\), got \(1,\)"),
    ],
    ids=["confidence", "class_id", "xyxy-columns", "xyxy-1d", "xyxy-3d", "empty-boxes"],
)
def test_construction_validation_gives_expected_and_actual_shapes(xyxy, confidence, class_id, pattern):
    with pytest.raises(fastinfer.InvalidInputError, match=pattern):
        Detections(xyxy, confidence, class_id)


def test_construction_error_is_a_value_error():
    with pytest.raises(ValueError):
        Detections(np.zeros((2, 4)), np.zeros(3), np.zeros(2))


def test_empty():
    dets = Detections.empty(NAMES)
    assert len(dets) == 0
    assert dets.xyxy.shape == (0, 4) and dets.xyxy.dtype == np.float32
    assert dets.confidence.shape == (0,) and dets.class_id.shape == (0,)
    assert dets.names == NAMES
    assert dets.labels == []
    assert list(dets) == []
    assert dets.to_dict() == {"detections": [], "metadata": {}}
    assert len(dets[dets.confidence > 0.5]) == 0
    assert len(Detections.empty()) == 0


def test_frozen():
    dets = make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        dets.confidence = np.zeros(3, np.float32)  # type: ignore[misc]


# ---------------------------------------------------------------- len, iter, labels


def test_len_and_iter():
    dets = make()
    assert len(dets) == 3
    rows = list(dets)
    assert len(rows) == 3
    box, score, cid, label = rows[1]
    np.testing.assert_array_equal(box, [30, 40, 90, 100])
    assert score == pytest.approx(0.5) and isinstance(score, float)
    assert cid == 2 and isinstance(cid, int)
    assert label == "car"


def test_labels_unknown_id_is_text():
    dets = Detections(np.zeros((3, 4)), np.ones(3), np.array([1, 7, -1]), NAMES)
    assert dets.labels == ["bicycle", "7", "-1"]
    assert Detections(np.zeros((1, 4)), np.ones(1), np.array([4])).labels == ["4"]


# ---------------------------------------------------------------- indexing


@pytest.mark.parametrize("index, expected", [(0, [0]), (1, [1]), (-1, [2]), (np.int64(2), [2]), (np.int32(-3), [0])])
def test_int_index_gives_one_detection(index, expected):
    dets = make()
    one = dets[index]
    assert isinstance(one, Detections) and len(one) == 1
    np.testing.assert_array_equal(one.xyxy, dets.xyxy[expected])
    assert one.labels == [dets.labels[expected[0]]]


@pytest.mark.parametrize("index", [3, -4, 100, np.int64(3)])
def test_int_index_out_of_range(index):
    with pytest.raises(IndexError, match=f"detection index {index} out of range for 3 detections"):
        make()[index]


def test_int_index_out_of_range_on_empty():
    with pytest.raises(IndexError):
        Detections.empty()[0]


@pytest.mark.parametrize("index, rows", [(slice(1, None), [1, 2]), (slice(None, None, -1), [2, 1, 0]),
                                         (slice(5, 9), []), (slice(0, 3, 2), [0, 2])])
def test_slices(index, rows):
    dets = make()
    part = dets[index]
    np.testing.assert_array_equal(part.xyxy, dets.xyxy[rows].reshape(-1, 4))
    np.testing.assert_array_equal(part.class_id, dets.class_id[rows])
    assert part.names == dets.names


def test_boolean_mask():
    dets = make()
    strong = dets[dets.confidence > 0.4]
    assert len(strong) == 2
    np.testing.assert_array_equal(strong.confidence, np.array([0.9, 0.5], np.float32))
    assert strong.labels == ["person", "car"]
    assert len(dets[np.zeros(3, bool)]) == 0
    assert len(dets[np.ones(3, bool)]) == 3


def test_boolean_mask_of_wrong_length():
    with pytest.raises(IndexError, match=r"boolean mask must have shape \(3,\), got \(2,\)"):
        make()[np.array([True, False])]


@pytest.mark.parametrize("index", [[2, 0], np.array([2, 0]), (2, 0)], ids=["list", "array", "tuple"])
def test_index_arrays(index):
    dets = make()
    picked = dets[list(index) if isinstance(index, tuple) else index]
    np.testing.assert_array_equal(picked.confidence, np.array([0.3, 0.9], np.float32))
    assert picked.labels == ["7", "person"]


def test_index_array_out_of_range():
    with pytest.raises(IndexError):
        make()[[0, 5]]


def test_selection_returns_new_objects_and_keeps_metadata():
    dets = make()
    part = dets[:2]
    assert part is not dets
    assert part.metadata == dets.metadata
    assert part.metadata is not dets.metadata


# ---------------------------------------------------------------- to_dict / to_json


def test_to_dict():
    out = make().to_dict()
    assert [d["label"] for d in out["detections"]] == ["person", "car", "7"]
    first = out["detections"][0]
    assert first == {"xyxy": [10.0, 20.0, 50.0, 60.0], "confidence": pytest.approx(0.9), "class_id": 0,
                     "label": "person"}
    assert out["metadata"] == {"backend": "test", "score": 1.5, "size": [640, 480]}
    assert type(out["metadata"]["score"]) is float
    assert all(type(v) is int for v in out["metadata"]["size"])


def test_to_json_round_trip():
    dets = make()
    text = dets.to_json()
    back = json.loads(text)
    assert back == dets.to_dict()
    np.testing.assert_allclose([d["xyxy"] for d in back["detections"]], dets.xyxy, atol=0.01)
    np.testing.assert_allclose([d["confidence"] for d in back["detections"]], dets.confidence, atol=1e-5)
    assert [d["class_id"] for d in back["detections"]] == dets.class_id.tolist()
    assert json.loads(dets.to_json(indent=2)) == back  # keyword arguments go to json.dumps


# ---------------------------------------------------------------- draw


def boxed() -> Detections:
    return Detections(np.array([[60, 100, 240, 180]], np.float32), np.array([0.83], np.float32), np.array([2]), NAMES)


def test_draw_returns_an_annotated_copy():
    image = np.full((200, 300, 3), 200, np.uint8)
    before = image.copy()
    out = boxed().draw(image)
    assert out is not image
    assert out.shape == image.shape and out.dtype == np.uint8
    np.testing.assert_array_equal(image, before)  # the input is unchanged
    changed = np.any(out != image, axis=2)
    # The outline: left/right columns and the bottom row of the box are drawn.
    assert changed[110:170, 60].all() and changed[110:170, 240].all()
    assert changed[180, 70:230].all()
    # Well inside the box and far outside it nothing changes.
    assert not changed[120:160, 80:220].any()
    assert not changed[190:, :].any()


def test_draw_nothing_gives_an_equal_copy():
    image = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    out = Detections.empty().draw(image)
    assert out is not image
    np.testing.assert_array_equal(out, image)


@pytest.mark.parametrize("shape", [(200, 300), (200, 300, 1)], ids=["HxW", "HxWx1"])
def test_draw_on_grayscale_returns_bgr(shape):
    image = np.full(shape, 200, np.uint8)
    before = image.copy()
    out = boxed().draw(image)
    assert out.shape == (200, 300, 3) and out.dtype == np.uint8
    np.testing.assert_array_equal(image, before)
    assert (out[150, 150] == 200).all()  # gray inside the box stays gray, as BGR
    assert np.any(out[140, 60] != 200)


def test_draw_on_bgra_returns_bgr():
    out = boxed().draw(np.full((200, 300, 4), 200, np.uint8))
    assert out.shape == (200, 300, 3)


def test_draw_on_a_non_contiguous_view():
    image = np.full((200, 600, 3), 200, np.uint8)[:, ::2]
    out = boxed().draw(image)
    assert out.shape == (200, 300, 3)


def test_draw_rejects_a_float_image():
    with pytest.raises(fastinfer.InvalidInputError, match="uint8"):
        boxed().draw(np.zeros((20, 30, 3), np.float32))


def test_draw_rejects_a_non_array():
    with pytest.raises(fastinfer.InvalidInputError, match="image must be a numpy array, got list"):
        boxed().draw([[0, 0, 0]])


# ---------------------------------------------------------------- supervision


def test_to_supervision():
    sv = supervision()

    dets = make()
    out = dets.to_supervision()
    assert isinstance(out, sv.Detections)
    assert len(out) == len(dets)
    np.testing.assert_array_equal(out.xyxy, dets.xyxy)
    np.testing.assert_array_equal(out.confidence, dets.confidence)
    np.testing.assert_array_equal(out.class_id, dets.class_id)
    assert out.data["class_name"].tolist() == dets.labels
    out.xyxy[0, 0] = -5  # a copy: changing it leaves ours alone
    assert dets.xyxy[0, 0] == 10


def test_empty_to_supervision():
    sv = supervision()

    out = Detections.empty(NAMES).to_supervision()
    assert isinstance(out, sv.Detections) and len(out) == 0
    assert out.xyxy.shape == (0, 4)


@pytest.fixture(scope="module")
def dog_detections(testdata, yolo_files) -> Detections:
    det = fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])
    return det(testdata / "images" / "dog.jpg")


def test_real_detections_round_trip_through_supervision(dog_detections):
    sv = supervision()

    dets = dog_detections
    assert len(dets) >= 3 and "dog" in dets.labels
    out = dets.to_supervision()
    assert isinstance(out, sv.Detections)
    np.testing.assert_array_equal(out.xyxy, dets.xyxy)
    np.testing.assert_array_equal(out.confidence, dets.confidence)
    np.testing.assert_array_equal(out.class_id, dets.class_id)
    assert out.data["class_name"].tolist() == dets.labels
    back = Detections(out.xyxy, out.confidence, out.class_id, dets.names, dets.metadata)
    same(back, dets)
    assert back.labels == dets.labels
    # supervision's own selection agrees with ours
    mask = dets.confidence > 0.5
    same(Detections(out[mask].xyxy, out[mask].confidence, out[mask].class_id, dets.names), dets[mask])


def test_real_detections_serialise(dog_detections):
    back = json.loads(dog_detections.to_json())
    assert len(back["detections"]) == len(dog_detections)
    assert back["metadata"]["image_size"] == [768, 576]
    assert back["metadata"]["backend"] == dog_detections.metadata["backend"]
    assert set(back["metadata"]["timings"]) >= {"preprocess_ms", "forward_ms", "postprocess_ms", "total_ms"}
