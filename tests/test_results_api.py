"""Tests of the results API of issue 13: box formats, save(), COCO results, records and pandas, supervision
round trips, concise reprs, line widths, label placement and the segmentation legend."""

from __future__ import annotations

import itertools
import shutil
import sys

import numpy as np
import pandas as pd  # a test dependency (TEST_DEPS): the peer of to_pandas()
import pytest
import supervision as sv  # a test dependency (installed without its own dependencies)

import fastinfer
from fastinfer import Classification, Detections, Segmentation
from fastinfer.results import palette

NAMES = ("person", "bicycle", "car")


@pytest.fixture(scope="module")
def detector(yolo_files) -> fastinfer.Detector:
    return fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])


@pytest.fixture(scope="module")
def dog(detector, testdata) -> Detections:
    return detector(testdata / "images" / "dog.jpg")


def grey(height: int = 200, width: int = 300) -> np.ndarray:
    return np.full((height, width, 3), 128, np.uint8)


def some(orig_shape=(200, 300)) -> Detections:
    xyxy = np.array([[10, 20, 50, 60], [30, 40, 90, 100]], np.float32)
    return Detections(xyxy, [0.9, 0.5], [0, 2], NAMES, {"backend": "test"}, orig_shape)


# ---------------------------------------------------------------- image size and box formats


def test_tasks_set_the_original_shape_and_the_source_path(dog, testdata):
    assert dog.orig_shape == (576, 768)
    assert dog.metadata["path"] == str(testdata / "images" / "dog.jpg")
    assert dog[:1].orig_shape == (576, 768)


def test_orig_shape_defaults_from_the_metadata_and_is_checked():
    assert Detections([], [], [], metadata={"image_size": [640, 480]}).orig_shape == (480, 640)
    assert Detections([], [], []).orig_shape is None
    for bad in ((0, 5), (5,), "ab", (2.5, 3)):
        with pytest.raises(fastinfer.InvalidInputError, match="orig_shape"):
            Detections([], [], [], orig_shape=bad)


def test_xywh_and_normalised_boxes_equal_supervisions_conversions(dog):
    np.testing.assert_allclose(sv.xcycwh_to_xyxy(dog.xywh), dog.xyxy, atol=1e-4)
    height, width = dog.orig_shape
    np.testing.assert_allclose(dog.xyxyn * [width, height, width, height], dog.xyxy, rtol=1e-6)
    np.testing.assert_allclose(sv.xcycwh_to_xyxy(dog.xywhn), dog.xyxyn, atol=1e-6)
    assert dog.xywh.dtype == dog.xyxyn.dtype == dog.xywhn.dtype == np.float32
    assert ((dog.xyxyn >= 0) & (dog.xyxyn <= 1)).all()


def test_normalised_boxes_need_the_image_size():
    with pytest.raises(fastinfer.InvalidInputError, match=r"xyxyn needs the image size.*orig_shape"):
        some(None).xyxyn
    assert some(None).xywh.shape == (2, 4)


# ---------------------------------------------------------------- COCO results, records, pandas


def test_to_coco_is_read_by_pycocotools_and_scores_perfectly_on_its_own_boxes(dog):
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    rows = dog.to_coco(42)
    assert [r["category_id"] for r in rows] == [18, 3, 8, 2]  # dog, car, truck, bicycle in COCO's numbering
    assert all(r["image_id"] == 42 for r in rows)
    np.testing.assert_allclose([r["score"] for r in rows], dog.confidence)
    truth = COCO()
    truth.dataset = {
        "images": [{"id": 42, "width": 768, "height": 576}],
        "categories": [{"id": i, "name": str(i)} for i in sorted({r["category_id"] for r in rows})],
        "annotations": [{"id": i + 1, "image_id": 42, "category_id": r["category_id"], "iscrowd": 0,
                         "bbox": [float(v) for v in sv_box], "area": float(sv_box[2] * sv_box[3])}
                        for i, (r, sv_box) in enumerate(zip(rows, xyxy_to_coco(dog.xyxy)))],
    }
    truth.createIndex()
    evaluation = COCOeval(truth, truth.loadRes(rows), "bbox")
    evaluation.evaluate()
    evaluation.accumulate()
    evaluation.summarize()
    assert evaluation.stats[0] == pytest.approx(1.0)  # every box found exactly: the bbox is x, y, w, h


def xyxy_to_coco(xyxy: np.ndarray) -> np.ndarray:
    """supervision's own conversion to top-left x, y, width, height (COCO's bbox)."""
    return sv.xyxy_to_xywh(xyxy)


def test_to_coco_category_ids():
    dets = some()
    assert [r["category_id"] for r in dets.to_coco(1)] == [0, 2]  # not the COCO names: the class id
    assert [r["category_id"] for r in dets.to_coco(1, category_ids=[5, 6, 7])] == [5, 7]
    assert [r["category_id"] for r in dets.to_coco("a", category_ids={2: 9})] == [9]  # a mapping drops the rest
    assert dets.to_coco(1)[0]["bbox"] == [10.0, 20.0, 40.0, 40.0]
    with pytest.raises(fastinfer.InvalidInputError, match="category_ids has 2 entries but a detection has class id 2"):
        dets.to_coco(1, category_ids=[1, 2])
    with pytest.raises(fastinfer.InvalidInputError, match="image_id must be an int or str, got float"):
        dets.to_coco(1.5)
    assert Detections.empty().to_coco(3) == []


def test_records_and_pandas(dog):
    records = dog.to_records()
    assert [r["label"] for r in records] == dog.labels
    np.testing.assert_allclose([[r["x1"], r["y1"], r["x2"], r["y2"]] for r in records], dog.xyxy)
    frame = dog.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["class_id", "label", "confidence", "x1", "y1", "x2", "y2"]
    np.testing.assert_allclose(frame[["x1", "y1", "x2", "y2"]].to_numpy(), dog.xyxy)
    np.testing.assert_allclose(frame["confidence"].to_numpy(), dog.confidence)
    assert frame["class_id"].tolist() == dog.class_id.tolist()
    empty = Detections.empty().to_pandas()
    assert len(empty) == 0 and list(empty.columns) == list(frame.columns)


def test_to_pandas_names_the_install_command_without_pandas(monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)  # what Python does when pandas is not installed
    for result in (some(), Classification([1], [0.5]), Segmentation(np.zeros((2, 2), np.uint8))):
        with pytest.raises(ImportError, match=r"to_pandas\(\) needs pandas: pip install pandas"):
            result.to_pandas()


# ---------------------------------------------------------------- supervision


def test_supervision_round_trip_keeps_names_metadata_and_shape(dog):
    out = dog.to_supervision()
    assert isinstance(out, sv.Detections)
    assert out.metadata["backend"] == "onnxruntime" and out.metadata["orig_shape"] == [576, 768]
    back = Detections.from_supervision(out)
    np.testing.assert_array_equal(back.xyxy, dog.xyxy)
    np.testing.assert_array_equal(back.confidence, dog.confidence)
    np.testing.assert_array_equal(back.class_id, dog.class_id)
    assert back.names == dog.names and back.orig_shape == dog.orig_shape and back.metadata == dog.metadata
    # supervision's own operations keep what fastinfer needs
    merged = sv.Detections.merge([out, out])
    assert len(Detections.from_supervision(merged)) == 2 * len(dog)


def test_from_supervision_made_by_supervision():
    made = sv.Detections(xyxy=np.array([[0, 0, 10, 10], [5, 5, 20, 20]], np.float32), class_id=np.array([3, 1]),
                         data={"class_name": np.array(["cat", "dog"])})
    dets = Detections.from_supervision(made)
    assert dets.names == ("0", "dog", "2", "cat") and dets.labels == ["cat", "dog"]
    assert dets.confidence.tolist() == [1.0, 1.0]  # no confidence: certain
    assert Detections.from_supervision(made, names=["a", "b", "c", "d"]).labels == ["d", "b"]
    clash = sv.Detections(xyxy=np.zeros((2, 4), np.float32), class_id=np.array([0, 0]),
                          data={"class_name": np.array(["cat", "dog"])})
    with pytest.raises(fastinfer.InvalidInputError, match="class id 0 is named both 'cat' and 'dog'; pass names="):
        Detections.from_supervision(clash)
    with pytest.raises(fastinfer.InvalidInputError, match="needs a supervision.Detections, got list"):
        Detections.from_supervision([])
    assert len(Detections.from_supervision(sv.Detections.empty())) == 0


# ---------------------------------------------------------------- concise reprs


def test_repr_of_many_detections_is_short():
    rng = np.random.default_rng(0)
    names = [f"a-rather-long-class-name-{i}" for i in range(80)]
    xyxy = np.sort(rng.uniform(0, 400, (200, 4)).astype(np.float32).reshape(200, 2, 2), axis=1).reshape(200, 4)
    class_id = np.concatenate([np.zeros(120, int), np.ones(60, int), rng.integers(2, 80, 20)])
    dets = Detections(xyxy[:, [0, 2, 1, 3]], rng.uniform(0, 1, 200), class_id, names,
                      {"backend": "onnxruntime", "image_size": [416, 416]})
    text = repr(dets)
    assert len(text) <= 200 and "\n" not in text
    assert text.startswith("Detections(200 boxes: a-rather-long-class-n... 120, a-rather-long-class-n... 60")
    assert "more" in text and text.endswith("; 416x416, onnxruntime)")
    assert repr(some()) == "Detections(2 boxes: person 1, car 1; 300x200, test)"
    assert repr(Detections.empty()) == "Detections(0 boxes)"


def test_repr_of_classifications_and_segmentations_is_short():
    names = [f"class number {i}" for i in range(1000)]
    top = Classification(np.arange(1000), np.linspace(1, 0, 1000), names, {"image_size": [451, 300]})
    assert len(repr(top)) <= 200 and repr(top).startswith("Classification(top 1000: class number 0 1.000, ")
    assert repr(top).endswith("; 451x300)")
    many = Segmentation(np.arange(600, dtype=np.int32).reshape(20, 30), names)
    assert len(repr(many)) <= 200 and repr(many).startswith("Segmentation(30x20: class number 0 0.2%")


# ---------------------------------------------------------------- records and save of the other results


def test_classification_records_and_save(tmp_path, testdata, monkeypatch):
    image = testdata / "images" / "dog.jpg"
    photo = fastinfer.read_image(image)
    result = Classification([2, 0], [0.7, 0.2], ("a", "b", "c"), {"path": str(image),
                                                                   "image_size": [photo.shape[1], photo.shape[0]]})
    assert result.to_records() == [{"rank": 0, "class_id": 2, "label": "c", "confidence": pytest.approx(0.7)},
                                   {"rank": 1, "class_id": 0, "label": "a", "confidence": pytest.approx(0.2)}]
    monkeypatch.chdir(tmp_path)
    written = result.save()
    assert written == "results_dog.jpg"
    path = result.save(tmp_path / "out.png", line_width=4)
    np.testing.assert_array_equal(fastinfer.read_image(path), result.draw(photo, line_width=4))


def test_segmentation_records_draw_and_save(tmp_path):
    class_map = np.zeros((120, 160), np.uint8)
    class_map[:, 80:] = 2
    seg = Segmentation(class_map, ["background", "cat", "dog"])
    assert seg.to_records() == seg.areas() and seg.orig_shape == (120, 160)
    image = grey(120, 160)
    path = seg.save(tmp_path / "seg.png", image=image, alpha=0.3)
    np.testing.assert_array_equal(fastinfer.read_image(path), seg.draw(image, alpha=0.3))
    np.testing.assert_array_equal(seg.draw(image, legend=False), seg.overlay(image))


# ---------------------------------------------------------------- Detections.save


def test_save_rereads_the_source_file(detector, testdata, tmp_path, monkeypatch):
    source = tmp_path / "street.png"
    shutil.copy(testdata / "images" / "dog.jpg", tmp_path / "dog.jpg")
    fastinfer.write_image(source, fastinfer.read_image(tmp_path / "dog.jpg"))
    dets = detector(source)
    monkeypatch.chdir(tmp_path)
    assert dets.save() == "results_street.png"
    np.testing.assert_array_equal(fastinfer.read_image(tmp_path / "results_street.png"),
                                  dets.draw(fastinfer.read_image(source)))
    thick = dets.save(tmp_path / "thick.png", line_width=7)
    np.testing.assert_array_equal(fastinfer.read_image(thick), dets.draw(fastinfer.read_image(source), line_width=7))


def test_save_of_detections_on_an_array(detector, testdata, tmp_path):
    photo = fastinfer.read_image(testdata / "images" / "dog.jpg")
    dets = detector(photo)
    assert "path" not in dets.metadata
    with pytest.raises(fastinfer.InvalidInputError, match=r"save\(\) needs the image.*pass image="):
        dets.save(tmp_path / "x.png")
    with pytest.raises(fastinfer.InvalidInputError, match=r"needs filename="):
        dets.save(image=photo)
    with pytest.raises(fastinfer.InvalidInputError, match=r"image is 300x200 but the result is for a 768x576 image"):
        dets.save(tmp_path / "x.png", image=grey())
    written = dets.save(tmp_path / "x.png", image=photo)
    np.testing.assert_array_equal(fastinfer.read_image(written), dets.draw(photo))


# ---------------------------------------------------------------- line width


def outline_width(drawn: np.ndarray, image: np.ndarray, row: int, columns: slice) -> int:
    """Pixels of a row clearly changed by a line (not its faint anti-aliased fringe)."""
    diff = np.abs(drawn[row, columns].astype(int) - image[row, columns].astype(int)).max(axis=1)
    return int((diff > 40).sum())


@pytest.mark.parametrize("line_width", [1, 3, 6])
def test_line_width_sets_the_box_outline(line_width):
    image = grey(400, 600)
    box = Detections([[100, 150, 400, 350]], [0.9], [1], NAMES)
    drawn = box.draw(image, line_width=line_width)
    # across the left edge at mid-height: line_width pixels (OpenCV's anti-aliased lines round up to odd widths)
    assert line_width <= outline_width(drawn, image, 250, slice(80, 120)) <= line_width + 2


def test_default_line_width_scales_with_the_image():
    box = Detections([[100, 150, 400, 350]], [0.9], [1], NAMES)
    small, large = grey(400, 600), grey(2000, 3000)
    assert outline_width(box.draw(small), small, 250, slice(80, 120)) <= 4  # max(round(500 * 0.003), 2) = 2
    big = Detections([[500, 750, 2000, 1750]], [0.9], [1], NAMES)
    assert 8 <= outline_width(big.draw(large), large, 1250, slice(450, 560)) <= 10  # round(2500 * 0.003) = 8


@pytest.mark.parametrize("bad", [0, -2, 2.5, True, "3"])
def test_line_width_is_checked_by_every_draw(bad):
    seg = Segmentation(np.zeros((200, 300), np.uint8))
    for draw in (some().draw, Classification([0], [0.5]).draw, seg.draw):
        with pytest.raises(fastinfer.InvalidInputError, match="line_width must be"):
            draw(grey(), line_width=bad)


def test_classification_banner_grows_with_line_width():
    result = Classification([0], [0.5], ["tabby"])
    image = grey(300, 400)
    heights = []
    for lw in (1, 4):
        changed = np.argwhere(np.any(result.draw(image, line_width=lw) != image, axis=2))
        heights.append(changed[:, 0].max())
    assert heights[1] > 2 * heights[0]


# ---------------------------------------------------------------- label placement


def overlap(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1]))


@pytest.mark.parametrize("case", ["stacked", "crowd", "top edge", "right edge"])
def test_labels_stay_in_the_image_and_do_not_cover_each_other(case):
    rng = np.random.default_rng(3)
    height, width = 480, 640
    if case == "stacked":  # the same box found as six classes
        xyxy = np.tile([[200, 200, 360, 330]], (6, 1)).astype(np.float32)
    elif case == "crowd":  # 25 overlapping boxes in one region
        corners = rng.uniform([100, 100], [300, 260], (25, 2))
        xyxy = np.hstack([corners, corners + rng.uniform(60, 140, (25, 2))]).astype(np.float32)
    elif case == "top edge":
        xyxy = np.array([[0, 0, 200, 100], [20, 2, 220, 120], [40, 1, 240, 90]], np.float32)
    else:
        xyxy = np.array([[560, 300, 640, 400], [600, 310, 640, 480], [590, 320, 639, 470]], np.float32)
    n = len(xyxy)
    dets = Detections(xyxy, rng.uniform(0.3, 1, n), np.arange(n) % 3, NAMES, orig_shape=(height, width))
    rects = dets.label_rects()
    assert rects.shape == (n, 4) and rects.dtype == np.int32
    assert (rects[:, 0] >= 0).all() and (rects[:, 1] >= 0).all()
    assert (rects[:, 2] <= width).all() and (rects[:, 3] <= height).all()
    for i, j in itertools.combinations(range(n), 2):
        assert not overlap(rects[i], rects[j]), f"labels {i} {rects[i]} and {j} {rects[j]} overlap"
    # what draw paints: each label rectangle is filled with its class colour (the text is drawn in it)
    drawn = dets.draw(grey(height, width))
    for rect in rects:
        assert np.any(drawn[rect[1]:rect[3], rect[0]:rect[2]] != 128)


def test_labels_go_above_the_box_when_there_is_room_else_inside():
    dets = Detections([[100, 200, 300, 300], [400, 0, 500, 100]], [0.9, 0.8], [0, 1], NAMES, orig_shape=(480, 640))
    above, inside = dets.label_rects()
    assert above[3] == 200 and above[0] == 100  # its bottom on the box's top edge
    assert inside[1] == 0 and inside[0] == 400  # no room above: inside the top edge
    thick = dets.label_rects(line_width=6)
    assert (thick[:, 3] - thick[:, 1] > above[3] - above[1]).all()  # the text grows with the line width
    with pytest.raises(fastinfer.InvalidInputError, match="label_rects.*orig_shape"):
        some(None).label_rects()


# ---------------------------------------------------------------- segmentation legend


def legend_rows(seg: Segmentation, image: np.ndarray) -> tuple[int, np.ndarray]:
    """The legend's height (the only change at alpha=0) and its changed pixels."""
    changed = np.any(seg.draw(image, alpha=0.0) != image, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    return int(rows.max()) + 1, changed


def test_legend_lists_only_the_classes_present_with_their_colours():
    image = grey(240, 320)
    names = ["background", "aeroplane", "bicycle", "bird", "boat"]
    two = np.zeros((240, 320), np.uint8)
    two[:, 200:] = 3
    three = two.copy()
    three[:60, :100] = 1
    h2, changed = legend_rows(Segmentation(two, names), image)
    h3, _ = legend_rows(Segmentation(three, names), image)
    assert h3 * 2 == h2 * 3, "one legend row per class present"
    cols = np.flatnonzero(changed.any(axis=0))
    assert cols.max() == 319 and cols.min() > 0, "at the top right"
    # the largest class (background, black) first, then bird in its VOC colour
    drawn = Segmentation(two, names).draw(image, alpha=0.0)
    row = h2 // 2
    bird = palette(4)[3][::-1]
    strip = drawn[row + row // 2 if row else 0, cols.min():cols.min() + 12]
    assert (strip == bird).all(axis=1).any(), "the second row's swatch is bird's colour"
    assert not changed[h2:].any() and Segmentation(two, names).overlay(image, 0.0, legend=False).tolist() == \
        image.tolist()


def test_legend_on_a_small_image_sums_up_the_rest():
    class_map = np.arange(40, dtype=np.uint8).repeat(3).reshape(1, -1).repeat(60, axis=0)
    seg = Segmentation(class_map)
    height, changed = legend_rows(seg, grey(60, 120))
    assert height <= 60 and changed.any()
