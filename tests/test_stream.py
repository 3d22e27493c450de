"""Tests of ``Detector.stream`` (the pipelined runner), video I/O in the core and ``fastinfer detect`` on videos.

The test videos are made with pip's ``cv2`` (a peer, not a dependency of the
library) from the sample photos, and read back with it; the stream's results
are checked against the same detector called on each frame in turn.
"""

from __future__ import annotations

import gc
import io
import json
import re
import shutil
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

import fastinfer
from fastinfer import cli
from fastinfer.cli.progress import ProgressBar, draw_inference_time
from fastinfer.io.stream import THREAD_PREFIX, StreamWarning

FRAMES = 16  # the benchmark runs the same pipeline on 300
SIZE = (640, 480)
FPS = 25.0


def make_video(path: Path, photos: list[Path], frames: int = FRAMES, fourcc: str = "mp4v") -> list[np.ndarray]:
    """Writes ``frames`` frames cycling through the photos (resized to 640x480) with cv2; returns them."""
    images = [cv2.resize(cv2.imread(str(p)), SIZE) for p in photos]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), FPS, SIZE)
    assert writer.isOpened(), f"test set-up: cv2 cannot write {path} with {fourcc}"
    written = [images[i % len(images)] for i in range(frames)]
    for image in written:
        writer.write(image)
    writer.release()
    return written


def cv2_frames(path: Path) -> list[np.ndarray]:
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            return frames
        frames.append(frame)


def stream_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(THREAD_PREFIX)]


def wait_for_no_stream_threads(seconds: float = 1.0) -> list[str]:
    deadline = time.monotonic() + seconds
    while stream_threads() and time.monotonic() < deadline:
        time.sleep(0.01)
    return stream_threads()


def assert_same_detections(got: fastinfer.Detections, expected: fastinfer.Detections, where: str) -> None:
    np.testing.assert_array_equal(got.xyxy, expected.xyxy, err_msg=where)
    np.testing.assert_array_equal(got.confidence, expected.confidence, err_msg=where)
    np.testing.assert_array_equal(got.class_id, expected.class_id, err_msg=where)


@pytest.fixture(scope="module")
def det(yolo_files) -> fastinfer.Detector:
    return fastinfer.Detector(yolo_files["cfg"], weights=yolo_files["weights"], names=yolo_files["names"])


@pytest.fixture(scope="module")
def video(tmp_path_factory, photos) -> Path:
    path = tmp_path_factory.mktemp("video") / "photos.mp4"
    make_video(path, photos)
    return path


@pytest.fixture(scope="module")
def frames(video) -> list[np.ndarray]:
    """The video's frames as cv2 decodes them."""
    decoded = cv2_frames(video)
    assert len(decoded) == FRAMES, f"test set-up: cv2 reads {len(decoded)} frames of {video}, wrote {FRAMES}"
    return decoded


@pytest.fixture(autouse=True)
def _no_threads_left():
    yield
    assert wait_for_no_stream_threads(2.0) == [], "a test left stream threads running"


# ---------------------------------------------------------------- video I/O in the core


@pytest.mark.parametrize("suffix, fourcc", [(".mp4", "mp4v"), (".avi", "MJPG")])
def test_video_reader_reads_what_cv2_reads(tmp_path, photos, suffix, fourcc):
    path = tmp_path / f"clip{suffix}"
    make_video(path, photos, 10, fourcc)
    expected = cv2_frames(path)
    reader = fastinfer.VideoReader(str(path))
    assert (reader.width, reader.height, reader.fps, reader.frame_count) == (*SIZE, FPS, 10)
    assert reader.name == f"'{path}'"
    got = []
    while (frame := reader.read()) is not None:
        assert frame.dtype == np.uint8 and frame.shape == (SIZE[1], SIZE[0], 3) and frame.flags.c_contiguous
        got.append(frame)
    assert len(got) == len(expected) == 10
    for i, (a, b) in enumerate(zip(got, expected)):  # two FFmpeg builds decoding the same stream
        np.testing.assert_allclose(a, b, atol=2, err_msg=f"frame {i}")
    reader.close()
    assert reader.read() is None


@pytest.mark.parametrize("suffix, fourcc", [(".avi", "MJPG"), (".mp4", "mp4v")])
def test_video_writer_writes_what_cv2_reads(tmp_path, photos, suffix, fourcc):
    images = [cv2.resize(cv2.imread(str(p)), SIZE) for p in photos[:4]]
    path = tmp_path / f"out{suffix}"
    with fastinfer.VideoWriter(str(path), 12.5, SIZE) as writer:
        assert writer.fourcc == fourcc  # picked from the extension
        for image in images:
            writer.write(image)
        assert writer.frames_written == len(images)
    capture = cv2.VideoCapture(str(path))
    assert capture.get(cv2.CAP_PROP_FPS) == 12.5
    decoded = cv2_frames(path)
    assert len(decoded) == len(images)
    for i, (got, image) in enumerate(zip(decoded, images)):
        assert got.shape == image.shape
        assert np.abs(got.astype(int) - image).mean() < 4, f"frame {i} differs beyond compression"


def test_video_writer_checks_its_arguments(tmp_path, raises_invalid):
    with raises_invalid("fps must be positive, got 0"):
        fastinfer.VideoWriter(str(tmp_path / "a.mp4"), 0, SIZE)
    with raises_invalid("size must be positive, got 0x480"):
        fastinfer.VideoWriter(str(tmp_path / "a.mp4"), 25, (0, 480))
    with raises_invalid("fourcc must be four characters .* got 'abc'"):
        fastinfer.VideoWriter(str(tmp_path / "a.mp4"), 25, SIZE, "abc")
    missing = tmp_path / "no" / "such" / "folder" / "a.mp4"
    with raises_invalid(f"cannot write video '{missing}'"):
        fastinfer.VideoWriter(str(missing), 25, SIZE)
    writer = fastinfer.VideoWriter(str(tmp_path / "a.avi"), 25, SIZE)
    with raises_invalid(r"must be 640x480 BGR uint8, got 320x240 with 3 channel\(s\)"):
        writer.write(np.zeros((240, 320, 3), np.uint8))
    with raises_invalid("frame must be a uint8 image, got dtype float32"):
        writer.write(np.zeros((480, 640, 3), np.float32))
    writer.close()
    with raises_invalid("is closed"):
        writer.write(np.zeros((480, 640, 3), np.uint8))


def test_unreadable_video_names_the_file(tmp_path, det, raises_invalid):
    missing = tmp_path / "missing.mp4"
    with raises_invalid(f"cannot open video '{missing}': no such file"):
        fastinfer.VideoReader(str(missing))
    with raises_invalid(f"cannot open video '{missing}'"):
        det.stream(missing)
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    with raises_invalid(f"cannot open video '{junk}': not a video"):
        det.stream(str(junk))
    empty = tmp_path / "empty.avi"
    empty.touch()
    with raises_invalid(f"video file '{empty}' is empty"):
        det.stream(empty)


def test_missing_camera_is_an_input_error(det, raises_invalid):
    with raises_invalid("cannot open camera 99"):
        det.stream(99)
    with raises_invalid("camera index must be >= 0, got -1"):
        fastinfer.VideoReader(-1)


# ---------------------------------------------------------------- the stream equals the calls one by one


@pytest.mark.parametrize("workers", [None, 2])
def test_stream_equals_calls_one_by_one(det, video, frames, workers):
    got = list(det.stream(video, workers=workers))
    assert [index for index, _, _ in got] == list(range(FRAMES))
    for (index, frame, dets), reference in zip(got, frames):
        np.testing.assert_allclose(frame, reference, atol=2, err_msg=f"frame {index}")
        assert_same_detections(dets, det(frame), f"frame {index}")
        assert dets.metadata["frame"] == index and dets.metadata["image_size"] == list(SIZE)
        assert dets.metadata["timings"]["batch"] == 1 and dets.metadata["timings"]["forward_ms"] > 0
    assert sum(len(dets) for _, _, dets in got) > FRAMES, "test set-up: the photos hold objects"


def test_batches_equal_batched_calls(det, video):
    got = list(det.stream(str(video), batch_size=5, workers=2))
    assert [index for index, _, _ in got] == list(range(FRAMES))
    images = [frame for _, frame, _ in got]
    for start in range(0, FRAMES, 5):  # 5, 5, 5 and a last batch of 1
        expected = det(images[start:start + 5])
        for offset, reference in enumerate(expected):
            _, _, dets = got[start + offset]
            assert dets.metadata["timings"]["batch"] == len(expected)
            assert_same_detections(dets, reference, f"frame {start + offset}")


def test_stream_reports_its_source(det, video, tmp_path, photos):
    stream = det.stream(video)
    assert (stream.name, stream.total, stream.fps) == (f"'{video}'", FRAMES, FPS)
    stream.close()
    folder = det.stream(photos[0].parent)
    assert (folder.total, folder.fps) == (len(photos), None)
    folder.close()


def test_folder_skips_an_unreadable_image_with_a_warning(det, tmp_path, photos):
    folder = tmp_path / "photos"
    folder.mkdir()
    for photo in photos[:3]:
        shutil.copy(photo, folder / photo.name)
    broken = folder / (photos[0].stem + "_broken.jpg")  # sorts second
    broken.write_bytes(b"not a jpeg")
    (folder / "notes.txt").write_text("not an image, not read")
    names = sorted([p.name for p in photos[:3]] + [broken.name])
    with pytest.warns(StreamWarning, match=f"skipped image {names.index(broken.name)} of folder .*{broken.name}"):
        got = list(det.stream(folder))
    assert [index for index, _, _ in got] == [i for i, name in enumerate(names) if name != broken.name]
    for index, frame, dets in got:
        path = folder / names[index]
        assert dets.metadata["path"] == str(path)
        np.testing.assert_array_equal(frame, fastinfer.read_image(path))
        assert_same_detections(dets, det(path), names[index])


def test_glob_pattern(det, tmp_path, photos, raises_invalid):
    folder = tmp_path / "photos"
    (folder / "sub").mkdir(parents=True)
    for photo in photos:
        shutil.copy(photo, folder / ("sub" if photo.suffix == ".png" else ".") / photo.name)
    jpgs = sorted(folder / p.name for p in photos if p.suffix == ".jpg")
    got = list(det.stream(str(folder / "*.jpg")))
    assert [dets.metadata["path"] for _, _, dets in got] == [str(p) for p in jpgs]
    for (index, frame, dets), path in zip(got, jpgs):
        assert_same_detections(dets, det(path), path.name)
    pngs = list(det.stream(str(folder / "**" / "*.png")))  # ** goes into subfolders
    assert [dets.metadata["path"] for _, _, dets in pngs] == sorted(str(folder / "sub" / p.name) for p in photos
                                                                     if p.suffix == ".png")
    with raises_invalid(re.escape(f"pattern '{folder / '*.gif'}' matches no image files")):
        det.stream(str(folder / "*.gif"))


def test_list_of_paths_and_arrays(det, photos):
    items = [photos[0], cv2.imread(str(photos[1])), str(photos[2]), cv2.imread(str(photos[3]), cv2.IMREAD_GRAYSCALE)]
    got = list(det.stream(items, batch_size=2))
    assert [index for index, _, _ in got] == [0, 1, 2, 3]
    for (index, frame, dets), item in zip(got, items):
        assert frame.shape[2] == 3
        assert_same_detections(dets, det(item), f"item {index}")
    assert det.stream([]).total == 0 and list(det.stream([])) == []


def test_single_image_file(det, photos):
    (index, frame, dets), = list(det.stream(photos[0]))
    assert index == 0
    assert_same_detections(dets, det(photos[0]), photos[0].name)


def test_truncated_video_warns_where_it_ends(det, video, tmp_path, photos):
    path = tmp_path / "cut.avi"
    make_video(path, photos, FRAMES, "MJPG")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 3])
    with pytest.warns(StreamWarning, match=rf"'{path}' ended after (\d+) of its {FRAMES} frames") as record:
        got = list(det.stream(path))
    ended = int(str(record[0].message).split("ended after ")[1].split()[0])
    assert 0 < len(got) == ended < FRAMES


# ---------------------------------------------------------------- errors and stopping


def test_worker_errors_reach_the_caller_with_the_frame_index(det, photos, tmp_path, raises_invalid):
    missing = tmp_path / "missing.jpg"
    seen = []
    with raises_invalid(f"frame 2 of a list of 3 images: cannot open image '{missing}'"):
        for index, _, _ in det.stream([photos[0], photos[1], missing]):
            seen.append(index)
    assert seen == [0, 1]


def test_backend_errors_reach_the_caller_with_the_frame_index(det, video, monkeypatch):
    class FailingBackend:
        """The detector's backend, failing on its third call."""

        name = det.backend.name

        def __init__(self) -> None:
            self.calls = 0

        def forward(self, blob):
            self.calls += 1
            if self.calls == 3:
                raise fastinfer.BackendError("onnxruntime: out of memory")
            return real.forward(blob)

    real = det.backend
    monkeypatch.setattr(det, "backend", FailingBackend())
    with pytest.raises(fastinfer.BackendError, match=f"frame 2 of '{video}': onnxruntime: out of memory"):
        list(det.stream(video))


def test_breaking_out_stops_the_threads_within_a_second(det, video):
    for index, _, _ in det.stream(video):
        if index == 0:
            assert sorted(stream_threads()) == [f"{THREAD_PREFIX}-{stage}" for stage in ("decode", "infer-0",
                                                                                          "preprocess")]
        if index == 4:
            break
    assert wait_for_no_stream_threads(1.0) == []


def test_breaking_out_stops_the_threads_while_the_stream_is_held(det, video):
    # Defect 14 of issue 17: with `s` holding the stream, `break` left its threads running until s.close().
    s = det.stream(video, workers=2)
    for index, _, _ in s:
        if index == 0:
            assert len(stream_threads()) == 4
        if index == 2:
            break
    assert stream_threads() == []  # joined before the loop's next statement, not eventually
    assert list(s) == []  # iterate once: the stream is over
    s.close()  # closing again is harmless


def test_an_exception_in_the_loop_stops_the_threads_while_the_stream_is_held(det, video):
    s = det.stream(video)
    with pytest.raises(RuntimeError, match="user code"):
        for index, _, _ in s:
            if index == 1:
                raise RuntimeError("user code")
    assert stream_threads() == []


def test_a_dropped_stream_stops_its_threads(det, video):
    # Defect 14: a stream advanced by hand and then dropped (garbage-collected) stops its threads too.
    s = det.stream(video)
    next(s)
    assert stream_threads()
    del s
    gc.collect()
    assert wait_for_no_stream_threads(1.0) == []


def test_ctrl_c_stops_the_threads(det, video):
    with pytest.raises(KeyboardInterrupt):
        for index, _, _ in det.stream(video, workers=2):
            if index == 2:
                raise KeyboardInterrupt
    assert wait_for_no_stream_threads(1.0) == []


def test_close_and_with_stop_the_threads(det, video):
    with det.stream(video) as stream:
        next(stream)
    assert wait_for_no_stream_threads(1.0) == []
    assert list(stream) == []
    held = det.stream(video)  # never iterated: no threads were started
    assert stream_threads() == []
    held.close()


@pytest.mark.parametrize("kwargs, match", [
    ({"batch_size": 0}, r"batch_size must be an int in \[1, 4096\], got 0"),
    ({"batch_size": True}, r"batch_size must be an int in \[1, 4096\], got True"),
    ({"batch_size": 2.0}, r"batch_size must be an int in \[1, 4096\], got 2\.0 \(float\)"),
    ({"workers": 0}, r"workers must be None or an int in \[1, \d+\] \(4 x the \d+ cores of this machine\), got 0"),
    ({"workers": "2"}, r"workers must be None or an int in \[1, \d+\], got '2' \(str\)"),
])
def test_bad_arguments(det, video, raises_invalid, kwargs, match):
    with raises_invalid(match):
        det.stream(video, **kwargs)


def test_bad_sources(det, tmp_path, raises_invalid):
    with raises_invalid("source must be a video file, a camera index, a folder, a glob pattern, or a list .* got dict"):
        det.stream({"video": "a.mp4"})
    with raises_invalid(f"folder '{tmp_path}' holds no image files"):
        det.stream(tmp_path)


# ---------------------------------------------------------------- progress bar


def test_progress_bar_line():
    # 150 of 300 frames at 25 fps: 150 frames left, 6 s.
    assert ProgressBar.format(150, 300, 25.0) == "[##########..........] 150/300 frames  25.0 fps  ETA 0:06"
    assert ProgressBar.format(0, 300, 0.0).endswith("0/300 frames  0.0 fps  ETA 0:00")
    assert ProgressBar.format(42, None, 12.5) == "42 frames  12.5 fps"


def test_progress_bar_redraws_one_line():
    out = io.StringIO()
    with ProgressBar(3, file=out, interval=0.0) as bar:
        for _ in range(3):
            bar.update()
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n")
    assert [part.split(" frames")[0].split()[-1] for part in text[:-1].split("\r")[1:]] == ["1/3", "2/3", "3/3"]


# ---------------------------------------------------------------- fastinfer detect on a video


def test_cli_writes_the_annotated_video(det, video, tmp_path, capsys, yolo_files):
    out = tmp_path / "annotated.mp4"
    rc = cli.main(["detect", str(video), "--model", str(yolo_files["cfg"]), "--out", str(out), "--json"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert [r["frame"] for r in records] == list(range(FRAMES))
    capture = cv2.VideoCapture(str(out))
    assert (capture.get(cv2.CAP_PROP_FPS), capture.get(cv2.CAP_PROP_FRAME_WIDTH),
            capture.get(cv2.CAP_PROP_FRAME_HEIGHT)) == (FPS, *SIZE)
    written = cv2_frames(out)
    assert len(written) == FRAMES
    reader = fastinfer.VideoReader(str(video))
    for record, got in zip(records, written):
        frame = reader.read()
        dets = det(frame)
        assert record["time_ms"] > 0
        assert record["detections"] == dets.to_dict()["detections"]
        boxes = dets.draw(frame)
        expected = draw_inference_time(boxes, record["time_ms"])
        banner = np.any(expected != boxes, axis=2)
        assert banner[:40, :320].mean() > 0.3 and not banner[60:].any(), "the banner sits at the top left"
        error = np.abs(got.astype(int) - expected)
        assert error.mean() < 4, f"frame {record['frame']}: not the annotated frame"
        # The banner (with this frame's time) is in the video: closer to it than to the frame without it.
        assert error[banner].mean() < np.abs(got.astype(int) - boxes)[banner].mean() / 2


def test_cli_video_summary_and_progress(video, tmp_path, capsys, yolo_files):
    rc = cli.main(["detect", str(video), "--model", str(yolo_files["cfg"]), "--out", str(tmp_path), "--progress"])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    lines = captured.out.splitlines()
    assert lines[0].startswith(f"{video}: {FRAMES} frames, ")
    assert lines[1] == f"  annotated video: {tmp_path / (video.stem + '.mp4')}"
    assert f"{FRAMES}/{FRAMES} frames" in captured.err and " fps  ETA " in captured.err
    rc = cli.main(["detect", str(video), "--model", str(yolo_files["cfg"])])
    captured = capsys.readouterr()
    assert rc == 0 and "frames  " not in captured.err  # stderr is not a terminal: no bar


def test_cli_video_errors(video, tmp_path, capsys, yolo_files, photos):
    rc = cli.main(["detect", str(video), str(photos[0]), "--model", str(yolo_files["cfg"]), "--out",
                   str(tmp_path / "out.mp4")])
    assert rc == 2
    assert "--out" in capsys.readouterr().err
    missing = tmp_path / "missing.avi"
    rc = cli.main(["detect", str(missing), "--model", str(yolo_files["cfg"])])
    assert rc == 1
    assert f"error: cannot open video '{missing}'" in capsys.readouterr().err
