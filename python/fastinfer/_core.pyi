"""
fastinfer's native core (private: use the fastinfer package).
"""
from __future__ import annotations
import collections.abc
from fastinfer import BackendError
from fastinfer import BackendUnavailableError
from fastinfer import FastInferError
from fastinfer import ImageWarning
from fastinfer import InvalidInputError
from fastinfer import ModelLoadError
from fastinfer import Transforms
import numpy
import numpy.typing
import typing
__all__: list[str] = ['Backend', 'BackendError', 'BackendUnavailableError', 'DEFAULT_MAX_IMAGE_PIXELS', 'FastInferError', 'ImageWarning', 'InvalidInputError', 'ModelLoadError', 'Transforms', 'VideoReader', 'VideoWriter', 'classify', 'darknet_cfg_info', 'darknet_cfg_sections', 'darknet_weights', 'darknet_weights_info', 'draw_banner', 'draw_detections', 'draw_legend', 'imread', 'imwrite', 'label_rects', 'make_blob', 'nms', 'onnxruntime_from_file', 'opencv_from_darknet', 'opencv_from_onnx', 'opencv_version', 'ort_api_version', 'ort_available_providers', 'ort_load', 'ort_loaded', 'ort_version', 'postprocess_darknet', 'postprocess_head', 'postprocess_ssd', 'segment', 'to_bgr']
class Backend:
    """
    A loaded model on one inference backend.
    """
    def forward(self, blob: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> list:
        """
        NCHW float32 blob -> list of output arrays.
        """
    @property
    def info(self) -> dict:
        """
        Inputs, outputs, metadata and providers (ONNX Runtime).
        """
    @property
    def name(self) -> str:
        ...
    @property
    def output_names(self) -> list[str]:
        ...
class VideoReader:
    """
    Frames of a video file or camera as BGR uint8 arrays (OpenCV videoio; the GIL is released while opening and decoding).
    """
    def __enter__(self) -> VideoReader:
        ...
    def __exit__(self, *args) -> None:
        ...
    @typing.overload
    def __init__(self, path: str) -> None:
        """
        Opens a video file.
        """
    @typing.overload
    def __init__(self, camera: typing.SupportsInt | typing.SupportsIndex) -> None:
        """
        Opens a camera by index.
        """
    def close(self) -> None:
        """
        Closes the file or camera; read() then returns None.
        """
    def read(self) -> numpy.typing.NDArray[numpy.uint8] | None:
        """
        The next frame (HxWx3 uint8, BGR), or None at the end.
        """
    @property
    def backend(self) -> str:
        """
        The videoio backend, e.g. 'FFMPEG'.
        """
    @property
    def fps(self) -> float:
        """
        Frames per second (0 when the source does not say).
        """
    @property
    def frame_count(self) -> int:
        """
        Number of frames (-1 when unknown).
        """
    @property
    def height(self) -> int:
        ...
    @property
    def name(self) -> str:
        """
        How messages name the source: "'clip.mp4'" or "camera 0".
        """
    @property
    def width(self) -> int:
        ...
class VideoWriter:
    """
    Writes BGR uint8 frames of one size to a video file (OpenCV videoio).
    """
    def __enter__(self) -> VideoWriter:
        ...
    def __exit__(self, *args) -> None:
        ...
    def __init__(self, path: str, fps: typing.SupportsFloat | typing.SupportsIndex, size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], fourcc: str = '') -> None:
        """
        size: (width, height). fourcc: e.g. 'mp4v' or 'MJPG'; empty: MJPG for .avi, mp4v otherwise.
        """
    def close(self) -> None:
        """
        Finishes the file.
        """
    def write(self, image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> None:
        """
        Appends one frame (HxWx3 BGR, or grayscale/BGRA, uint8) of the writer's size.
        """
    @property
    def fourcc(self) -> str:
        ...
    @property
    def frames_written(self) -> int:
        ...
    @property
    def path(self) -> str:
        ...
def classify(scores: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], top_k: typing.SupportsInt | typing.SupportsIndex = 5, softmax: bool | None = None) -> tuple:
    """
    (N, classes) float32 scores -> (class_id (N, k) int64, confidence (N, k) float32, softmax_applied), k = min(top_k, classes), best first, ties to the lower class id. softmax: None applies it unless every row already is a distribution (>= 0, sums to 1 within 1e-3); True or False forces it.
    """
def darknet_cfg_info(path: str, width: typing.SupportsInt | typing.SupportsIndex = 0, height: typing.SupportsInt | typing.SupportsIndex = 0) -> dict:
    """
    Parses and checks a Darknet cfg (fastinfer's one Darknet reader): input size, classes, parameter count, [net] and every layer with its type, line, index, options, option lines and output shape (C, H, W), walked at width x height when they are > 0, else at the cfg's own size.
    """
def darknet_cfg_sections(path: str) -> list:
    """
    The sections of a Darknet cfg ([net] first) with their type, line, index, options and option lines, as read before any key or shape is checked.
    """
def darknet_weights(cfg: str, weights: str) -> numpy.typing.NDArray[numpy.float32]:
    """
    Every parameter of a Darknet weights file after its header, checked against the cfg (size, finite).
    """
def darknet_weights_info(cfg: str, weights: str) -> dict:
    """
    Checks a Darknet weights file against its cfg and returns its header.
    """
def draw_banner(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], text: str, line_width: typing.SupportsInt | typing.SupportsIndex | None = None) -> numpy.typing.NDArray[numpy.uint8]:
    """
    A BGR copy of the image with text at the top left.
    """
def draw_detections(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], xyxy: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], confidence: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], class_id: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], labels: collections.abc.Sequence[str], line_width: typing.SupportsInt | typing.SupportsIndex | None = None) -> numpy.typing.NDArray[numpy.uint8]:
    """
    An annotated BGR copy of the image: boxes, and labels placed by label_rects. line_width: pixels, or None (max(round((width + height) / 2 * 0.003), 2)).
    """
def draw_legend(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], texts: collections.abc.Sequence[str], colours: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], line_width: typing.SupportsInt | typing.SupportsIndex | None = None) -> numpy.typing.NDArray[numpy.uint8]:
    """
    A BGR copy of the image with a legend at the top right: a swatch of each BGR colour (K, 3) and its text.
    """
def imread(path: str, *, max_pixels: typing.SupportsInt | typing.SupportsIndex = 268435456, strict: bool = False) -> numpy.typing.NDArray[numpy.uint8]:
    """
    Reads an image file as BGR uint8. Files declaring more than max_pixels pixels (0: no limit) are refused before decoding; a truncated JPEG is an ImageWarning, or an InvalidInputError with strict=True.
    """
def imwrite(path: str, image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> None:
    """
    Writes an image file; the extension picks the format.
    """
def label_rects(image_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], xyxy: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], confidence: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], class_id: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], labels: collections.abc.Sequence[str], line_width: typing.SupportsInt | typing.SupportsIndex | None = None) -> numpy.typing.NDArray[numpy.int32]:
    """
    Where draw_detections puts each label on a (width, height) image: (N, 4) int32 x1, y1, x2, y2. Above the box when there is room, else inside it; moved up or down off the labels of more confident boxes; always inside the image.
    """
def make_blob(images: typing.Any, size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], mode: str = 'stretch', swap_rb: bool = True, scale: typing.SupportsFloat | typing.SupportsIndex = 0.00392156862745098, mean: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [0.0], std: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [1.0], pad_value: typing.SupportsFloat | typing.SupportsIndex = 127.5, *, center: bool = True, sizing: str = 'darknet', resize: typing.SupportsInt | typing.SupportsIndex = 0, resample: str = 'cv2') -> tuple:
    """
    Images (HxWx{1,3,4} uint8, BGR) -> (NCHW float32 blob, Transforms: an (N, 6) float64 array whose columns scale_x, scale_y, pad_x, pad_y, image_width, image_height are also named properties). mode: 'stretch', 'crop', 'letterbox', 'pad_resize' (pad to the input's aspect ratio, then stretch) or 'resize_crop' (shorter side to `resize`, then cut the input size from the centre: ImageNet's Resize + CenterCrop); center=False puts the image at the top-left (padding at the bottom/right); sizing (letterbox): 'darknet' (integer sizes, per-axis scales), 'floor' or 'round' (one ratio, int() or round() sizes); resample: 'cv2' (OpenCV's bilinear, cv2.resize INTER_LINEAR) or 'pil' (antialiased bilinear, PIL's Image.resize BILINEAR as torchvision's Resize uses it, to the pixel).
    """
def nms(boxes: typing.Any, scores: typing.Any, class_ids: typing.Any = None, conf: typing.SupportsFloat | typing.SupportsIndex = 0.0, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0, *, classes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> numpy.typing.NDArray[numpy.int64]:
    """
    Indices kept by NMS (cv::dnn::NMSBoxes semantics), highest score first; classes: keep only these class ids (empty: all).
    """
def onnxruntime_from_file(path: str, intra_op_threads: typing.SupportsInt | typing.SupportsIndex = 0, inter_op_threads: typing.SupportsInt | typing.SupportsIndex = 0, graph_optimization: str = 'all', providers: collections.abc.Sequence[str] = [], device_id: typing.SupportsInt | typing.SupportsIndex = 0) -> Backend:
    """
    Loads an ONNX model on ONNX Runtime.
    """
def opencv_from_darknet(cfg: str, weights: str) -> Backend:
    """
    Loads a Darknet model on OpenCV DNN.
    """
def opencv_from_onnx(path: str) -> Backend:
    """
    Loads an ONNX model on OpenCV DNN.
    """
def ort_api_version() -> int:
    """
    The ONNX Runtime API version the core requests.
    """
def ort_available_providers() -> list[str]:
    ...
def ort_load(library_path: str) -> None:
    """
    Loads libonnxruntime (once per process).
    """
def ort_loaded() -> bool:
    ...
def ort_version() -> str:
    """
    Version of the loaded ONNX Runtime library.
    """
def postprocess_darknet(outputs: collections.abc.Sequence[numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]], transforms: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], conf: typing.SupportsFloat | typing.SupportsIndex = 0.25, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0, *, objectness_gate: bool = False, multi_label: bool = False, classes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> list:
    """
    Darknet rows -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. objectness_gate: also skip rows whose objectness is not above conf (Darknet's rule; exact and much faster for rows whose class scores are objectness x probability, as OpenCV's Darknet layers and converted models emit them). multi_label: every class above conf is a detection of its own (Darknet's detector, YOLOv5's multi_label), then NMS per class; otherwise each row's best class. classes: keep only these class ids, dropped before NMS and max_det (empty: all).
    """
def postprocess_head(output: typing.Any, transforms: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], head: str, conf: typing.SupportsFloat | typing.SupportsIndex = 0.25, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0, strides: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [8, 16, 32], *, multi_label: bool = False, classes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> list:
    """
    A YOLO head's output -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. head: 'yolov5' ((B, N, 5+C) pixel rows), 'yolov8'/'yolo11' ((B, 4+C, N)), 'yolox' ((B, N, 5+C) grid-relative rows over `strides`) or 'darknet' ((B, N, 5+C) normalised rows); 2-D for one image. multi_label: every class above conf is a detection of its own (YOLOv5's multi_label); otherwise the best. classes: keep only these class ids, dropped before NMS and max_det (empty: all).
    """
def postprocess_ssd(loc: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], logits: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], priors: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], transforms: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], conf: typing.SupportsFloat | typing.SupportsIndex = 0.25, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 200, *, variances: tuple[typing.SupportsFloat | typing.SupportsIndex, typing.SupportsFloat | typing.SupportsIndex] = (0.10000000149011612, 0.20000000298023224), scores: str = 'softmax', background: typing.SupportsInt | typing.SupportsIndex | None = 0, multi_label: bool = True, classes: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = []) -> list:
    """
    SSD outputs -> per image (xyxy, confidence, class_id): boxes decoded against the priors ((N, 4) cx, cy, w, h normalised) with the centre-size variances, scores by 'softmax', 'sigmoid' or 'raw', every (box, class) above conf, mapped back, clipped, then NMS per class; class ids skip the background column. loc (B, N, 4), logits (B, N, K); 2-D for one image. multi_label=False: each box's best class only. classes: keep only these class ids, dropped before NMS and max_det (empty: all).
    """
def segment(output: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], transforms: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], num_classes: typing.SupportsInt | typing.SupportsIndex = 0) -> list:
    """
    A segmentation model's output -> per image an (H, W) class map at the original image size (uint8, or int32 past 256 classes). output: (B, C, h, w) float32 class scores at the input resolution or a fraction of it (the image's cells, letterbox padding cut off, resized bilinearly as torch's align_corners=False, then argmax), or a (B, h, w) class map of ids (resized by nearest-exact; num_classes > 0 bounds the ids). transforms: make_blob's (B, 6) record; input_size: the network input (width, height).
    """
def to_bgr(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> typing.Any:
    """
    Grayscale or BGRA -> BGR (BGR input is returned as it is).
    """
DEFAULT_MAX_IMAGE_PIXELS: int = 268435456
__version__: str = '0.1.0'
opencv_version: str = '4.6.0'
