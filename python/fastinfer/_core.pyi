"""
fastinfer's native core (private: use the fastinfer package).
"""
from __future__ import annotations
import collections.abc
from fastinfer import BackendError
from fastinfer import BackendUnavailableError
from fastinfer import FastInferError
from fastinfer import InvalidInputError
from fastinfer import ModelLoadError
import numpy
import numpy.typing
import typing
__all__: list[str] = ['Backend', 'BackendError', 'BackendUnavailableError', 'FastInferError', 'InvalidInputError', 'ModelLoadError', 'darknet_cfg_info', 'darknet_weights_info', 'draw_banner', 'draw_detections', 'imread', 'imwrite', 'make_blob', 'nms', 'onnxruntime_from_file', 'opencv_from_darknet', 'opencv_from_onnx', 'opencv_version', 'ort_api_version', 'ort_available_providers', 'ort_load', 'ort_loaded', 'ort_version', 'postprocess_darknet', 'postprocess_head', 'to_bgr']
class Backend:
    """
    A loaded model on one inference backend.
    """
    def forward(self, blob: typing.Any) -> list:
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
def darknet_cfg_info(path: str) -> dict:
    """
    Parses and checks a Darknet cfg.
    """
def darknet_weights_info(cfg: str, weights: str) -> dict:
    """
    Checks a Darknet weights file against its cfg and returns its header.
    """
def draw_banner(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], text: str) -> numpy.typing.NDArray[numpy.uint8]:
    """
    A BGR copy of the image with text at the top left.
    """
def draw_detections(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]], xyxy: typing.Any, confidence: typing.Any, class_id: typing.Any, labels: collections.abc.Sequence[str]) -> numpy.typing.NDArray[numpy.uint8]:
    """
    An annotated BGR copy of the image.
    """
def imread(path: str) -> numpy.typing.NDArray[numpy.uint8]:
    """
    Reads an image file as BGR uint8.
    """
def imwrite(path: str, image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> None:
    """
    Writes an image file; the extension picks the format.
    """
def make_blob(images: typing.Any, size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], mode: str = 'stretch', swap_rb: bool = True, scale: typing.SupportsFloat | typing.SupportsIndex = 0.00392156862745098, mean: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [0.0], std: collections.abc.Sequence[typing.SupportsFloat | typing.SupportsIndex] = [1.0], pad_value: typing.SupportsFloat | typing.SupportsIndex = 127.5, *, center: bool = True, sizing: str = 'darknet') -> tuple:
    """
    Images (HxWx{1,3,4} uint8, BGR) -> (NCHW float32 blob, (N, 6) transforms: scale_x, scale_y, pad_x, pad_y, width, height). mode: 'stretch', 'crop', 'letterbox' or 'pad_resize' (pad to the input's aspect ratio, then stretch); center=False puts the image at the top-left (padding at the bottom/right); sizing (letterbox): 'darknet' (integer sizes, per-axis scales), 'floor' or 'round' (one ratio, int() or round() sizes).
    """
def nms(boxes: typing.Any, scores: typing.Any, class_ids: typing.Any = None, conf: typing.SupportsFloat | typing.SupportsIndex = 0.0, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0) -> numpy.typing.NDArray[numpy.int64]:
    """
    Indices kept by NMS (cv::dnn::NMSBoxes semantics), highest score first.
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
def postprocess_darknet(outputs: collections.abc.Sequence[typing.Any], transforms: typing.Any, input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], conf: typing.SupportsFloat | typing.SupportsIndex = 0.25, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0, *, objectness_gate: bool = False) -> list:
    """
    Darknet rows -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. objectness_gate: also skip rows whose objectness is not above conf (Darknet's rule; exact and much faster for rows whose class scores are objectness x probability, as OpenCV's Darknet layers and converted models emit them).
    """
def postprocess_head(output: typing.Any, transforms: typing.Any, input_size: tuple[typing.SupportsInt | typing.SupportsIndex, typing.SupportsInt | typing.SupportsIndex], head: str, conf: typing.SupportsFloat | typing.SupportsIndex = 0.25, iou: typing.SupportsFloat | typing.SupportsIndex = 0.44999998807907104, class_agnostic: bool = False, max_det: typing.SupportsInt | typing.SupportsIndex = 0, strides: collections.abc.Sequence[typing.SupportsInt | typing.SupportsIndex] = [8, 16, 32]) -> list:
    """
    A YOLO head's output -> per image (xyxy, confidence, class_id) after threshold, NMS and mapping back. head: 'yolov5' ((B, N, 5+C) pixel rows), 'yolov8'/'yolo11' ((B, 4+C, N)), 'yolox' ((B, N, 5+C) grid-relative rows over `strides`) or 'darknet' ((B, N, 5+C) normalised rows); 2-D for one image.
    """
def to_bgr(image: numpy.ndarray[typing.Any, numpy.dtype[typing.Any]]) -> typing.Any:
    """
    Grayscale or BGRA -> BGR (BGR input is returned as it is).
    """
opencv_version: str = '4.6.0'
