"""Camera segmentation over video: the backbone on key frames, flow-warped features in between, the semantic head
on every frame; optionally the Mask2Former panoptic head on key frames and every `panoptic_head_interval`-th frame,
its last result carried forward along the optical flow on the frames between."""
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from perception.core.camera.image_size import (PAD_MULTIPLE, WorkingGeometry, confidence_to_input, labels_to_input,
                                               to_working, working_geometry)
from perception.core.camera.panoptic import (PanopticInferenceConfig, carry_panoptic, panoptic_inference,
                                             refresh_carried)
from perception.core.camera.precision import Bfloat16CameraNet, check_precision
from perception.core.camera.propagation import FlowEstimator, PropagationConfig, decide_key_frame, warp_pyramid
from perception.core.device import StageTimer, select_device
from perception.core.parameters import section
from perception.export.runtime import RUNTIMES, RuntimeCameraNet
from perception.models.camera_net import load_camera_net
from perception.models.correction import CORRECTED_LEVELS
from perception.models.mmseg_net import MMSegNet
from perception.paths import WEIGHTS_DIR
from perception.taxonomy import load_taxonomy


@dataclass(frozen=True, kw_only=True)
class CameraSegmenterConfig:
    weights: Path | None = WEIGHTS_DIR / 'camera.pt'  # mmseg backend: its checkpoint (None: random, for tests)
    device: str = 'auto'
    backend: str = 'native'  # native (perception-train), mmseg, onnx / openvino (perception-export; weights: manifest)
    mmseg_config: Path | None = None
    panoptic: bool = True
    panoptic_head_interval: int = 4  # the head runs on key frames and at least every this many frames
    panoptic_stride: int = 1  # segments are decided at 1/stride of the image resolution (1, 2 or 4), then upsampled
    panoptic_refresh_carried: bool = True  # carried segments follow the frame's own semantic labels (refresh_carried)
    input_width: int | None = 640  # resize to this working width (the trained one); None: the input size as it is
    precision: str = 'fp32'  # or 'bf16' (core/camera/precision.py)
    propagation: PropagationConfig = field(default_factory=PropagationConfig)
    panoptic_inference: PanopticInferenceConfig = field(default_factory=PanopticInferenceConfig)

    @classmethod
    def from_parameters(cls, parameters: dict) -> 'CameraSegmenterConfig':
        """From the camera_segmentation node's flat parameters (config/perception.yaml)."""
        model, panoptic = section(parameters, 'model'), section(parameters, 'panoptic')
        default = cls.weights if model['backend'] == 'native' else None
        mmseg_config = Path(model['mmseg_config']) if model['mmseg_config'] else None
        return cls(weights=Path(model['weights']) if model['weights'] else default, device=model['device'],
                   backend=model['backend'], mmseg_config=mmseg_config, input_width=model['input_width'] or None,
                   precision=model['precision'],
                   panoptic=panoptic['enabled'],
                   panoptic_head_interval=panoptic['head_interval'], panoptic_stride=panoptic['inference_stride'],
                   panoptic_refresh_carried=panoptic['refresh_carried'],
                   propagation=PropagationConfig(**section(parameters, 'propagation')),
                   panoptic_inference=PanopticInferenceConfig(
                       object_mask_threshold=panoptic['object_mask_threshold'],
                       overlap_threshold=panoptic['overlap_threshold']))


@dataclass
class CameraSegmentation:
    labels: np.ndarray            # (H, W) uint8 taxonomy ids
    confidence: np.ndarray        # (H, W) float32 softmax probability of the label
    panoptic: np.ndarray | None   # (H, W) int32 class * 1000 + instance (see core.camera.panoptic), or None
    segments: list | None         # [{'id', 'class', 'score', 'area', 'is_thing'}], or None
    key_frame: bool
    key_reason: str
    panoptic_carried: bool        # the panoptic map is an earlier frame's carried along the flow (head not run)
    timing_ms: dict               # per stage: flow, backbone or warp (+ correction), semantic_head, panoptic_head or
    #                               panoptic_carry, total


def validate_image(image) -> np.ndarray:
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        shape = getattr(image, 'shape', None)
        dtype = getattr(image, 'dtype', type(image).__name__)
        raise ValueError(f'expected an (H, W, 3) uint8 rgb image, got {dtype} of shape {shape}')
    if image.shape[0] < 8 or image.shape[1] < 8:
        raise ValueError(f'image of {image.shape[1]}x{image.shape[0]} pixels is too small (at least 8x8)')
    return image


class CameraSegmenter:
    def __init__(self, config: CameraSegmenterConfig = CameraSegmenterConfig()):
        self.config = config
        self.device = select_device(config.device)
        check_precision(config.precision, torch.device('cpu') if config.backend in RUNTIMES else self.device)
        if config.backend == 'mmseg':
            if config.mmseg_config is None:
                raise ValueError('the mmseg backend needs model.mmseg_config (an mmsegmentation config file)')
            self.net, self.meta = MMSegNet(config.mmseg_config, config.weights, self.device), {}
        elif config.backend == 'native':
            self.net, self.meta = load_camera_net(config.weights, self.device)
        elif config.backend in RUNTIMES:  # on the CPU, whatever the device
            if config.weights is None:
                raise ValueError(f'the {config.backend} backend needs model.weights: a manifest written by '
                                 'perception-export camera')
            self.net, self.meta = RuntimeCameraNet(config.weights, config.backend, precision=config.precision), {}
        else:
            raise ValueError(f"camera backend must be 'native', 'mmseg', 'onnx' or 'openvino', got {config.backend!r}")
        if config.precision == 'bf16' and config.backend not in RUNTIMES:
            self.net = Bfloat16CameraNet(self.net, self.device)
        if config.panoptic and self.net.panoptic_head is None:
            raise ValueError(f'the camera network ({config.weights}) has no panoptic head; set panoptic to false')
        self.taxonomy = load_taxonomy()
        self.flow = FlowEstimator(config.propagation)
        self.reset()

    def reset(self) -> None:
        """Forget the key frame: the next frame is a key frame."""
        self._key_pyramid = None
        self._key_grey = None
        self._last_stamp = None
        self._frames_since_key = 0
        self._head = None  # (panoptic, segments, grey) of the frame the panoptic head last ran on
        self._frames_since_head = 0

    def _needs_reset(self, image: np.ndarray, stamp_ns: int | None) -> bool:
        if self._key_pyramid is None or self._key_grey.shape != image.shape[:2]:
            return True
        if stamp_ns is None or self._last_stamp is None:
            return False
        gap = (stamp_ns - self._last_stamp) / 1e9
        return gap < 0 or gap > self.config.propagation.max_gap_s

    @torch.inference_mode()
    def process(self, image: np.ndarray, stamp_ns: int | None = None) -> CameraSegmentation:
        """Segment one rgb8 frame of a video; stamps (ns) detect gaps that reset propagation."""
        image = validate_image(image)
        if self.config.input_width is not None:
            geometry = working_geometry(*image.shape[:2], self.config.input_width)
            if geometry.padded != geometry.input:  # a working-size image maps to itself: no recursion
                return _to_input_size(self.process(to_working(image, geometry), stamp_ns), geometry)
        timer = StageTimer(self.device)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        h, w = grey.shape
        pad_h, pad_w = -h % PAD_MULTIPLE, -w % PAD_MULTIPLE

        flow = key_flow = None
        propagation = self.config.propagation
        if self._needs_reset(image, stamp_ns):
            first = self._key_pyramid is None
            self.reset()
            decision_key, reason = True, 'first' if first else 'reset'
        elif self._frames_since_key + 1 >= propagation.interval:  # due: no flow needed to decide
            decision_key, reason = True, 'interval'
        else:
            with timer('flow'):
                flow = key_flow = self.flow(grey, self._key_grey)
            decision = decide_key_frame(propagation, self._frames_since_key + 1, grey, self._key_grey, flow)
            decision_key, reason = decision.key, decision.reason

        correct = not decision_key and propagation.correction and self.net.correction is not None
        if decision_key or correct:
            pixels = torch.from_numpy(image if image.flags.writeable else image.copy())
            tensor = pixels.to(self.device).permute(2, 0, 1)[None].float() / 255.0
            tensor = F.pad(tensor, (0, pad_w, 0, pad_h), mode='replicate')
        if decision_key:
            with timer('backbone'):
                pyramid = self.net.features(tensor)
                self._key_pyramid, self._key_grey, self._frames_since_key = pyramid, grey, 0
        else:
            with timer('warp'):
                flow = np.pad(flow, ((0, pad_h), (0, pad_w), (0, 0)), mode='edge')
                pyramid = warp_pyramid(self._key_pyramid, flow, levels=CORRECTED_LEVELS if correct else None)
                self._frames_since_key += 1
            if correct:
                with timer('correction'):
                    pyramid = self.net.corrected(tensor, pyramid)
        self._last_stamp = stamp_ns

        with timer('semantic_head'):
            labels_np, confidence_np = self._labels_and_confidence(self.net.semantic(pyramid), (h, w),
                                                                   (pad_h, pad_w))
        panoptic, segments, carried = None, None, False
        if self.config.panoptic:
            self._frames_since_head += 1
            if decision_key or self._frames_since_head >= self.config.panoptic_head_interval:
                with timer('panoptic_head'):
                    outputs = self.net.panoptic(pyramid)
                    stride = self.config.panoptic_stride
                    size = ((h + pad_h) // stride, (w + pad_w) // stride)  # padded sizes are multiples of 32
                    panoptic, segments = panoptic_inference(outputs['pred_logits'][0], outputs['pred_masks'][0],
                                                            self.taxonomy, size, self.config.panoptic_inference)
                    panoptic = panoptic.repeat_interleave(stride, 0).repeat_interleave(stride, 1)
                    panoptic = panoptic[:h, :w].cpu().numpy().astype(np.int32)
                    if pad_h or pad_w or stride > 1:  # areas changed with the crop and the upsampling
                        segments = _with_areas(panoptic, segments)
                self._head, self._frames_since_head = (panoptic, segments, grey), 0
            else:
                with timer('panoptic_carry'):
                    head_panoptic, head_segments, head_grey = self._head
                    head_flow = key_flow if head_grey is self._key_grey else self.flow(grey, head_grey)
                    panoptic, carried = carry_panoptic(head_panoptic, head_flow), True
                    if self.config.panoptic_refresh_carried:
                        panoptic, segments = refresh_carried(panoptic, head_segments, labels_np, confidence_np,
                                                             self.taxonomy)
                    else:
                        segments = _with_areas(panoptic, head_segments)
        return CameraSegmentation(labels=labels_np, confidence=confidence_np, panoptic=panoptic, segments=segments,
                                  key_frame=decision_key, key_reason=reason, panoptic_carried=carried,
                                  timing_ms=timer.finish())

    @staticmethod
    def _labels_and_confidence(logits: torch.Tensor, size: tuple[int, int], padding: tuple[int, int]):
        """Labels: argmax of the logits upsampled bilinearly to the input size. Confidence: the softmax
        maximum at the logits' resolution, upsampled (the full-resolution softmax over all classes would cost more
        than the head itself on a CPU)."""
        padded = (size[0] + padding[0], size[1] + padding[1])
        upsampled = F.interpolate(logits.contiguous(memory_format=torch.channels_last), size=padded, mode='bilinear',
                                  align_corners=False)  # channels-last: ~3x faster on CPU
        labels = upsampled[0].permute(1, 2, 0)[:size[0], :size[1]].max(-1).indices
        confidence = F.interpolate(logits.softmax(1).amax(1, keepdim=True), size=padded, mode='bilinear',
                                   align_corners=False)[0, 0, :size[0], :size[1]]
        return labels.to(torch.uint8).cpu().numpy(), confidence.float().cpu().numpy()

    def overlay(self, image: np.ndarray, labels: np.ndarray, alpha: float = 0.5) -> np.ndarray:
        """The image blended with the taxonomy colours of `labels`."""
        return cv2.addWeighted(image, 1 - alpha, self.taxonomy.colorize(labels), alpha, 0.0)


def _with_areas(panoptic: np.ndarray, segments: list) -> list:
    """The segments still present in `panoptic`, with their areas counted there."""
    ids, areas = np.unique(panoptic, return_counts=True)
    area_of = dict(zip(ids.tolist(), areas.tolist()))
    return [{**s, 'area': area_of[s['id']]} for s in segments if s['id'] in area_of]


def _to_input_size(result: CameraSegmentation, geometry: WorkingGeometry) -> CameraSegmentation:
    """A segmentation of the working-size image mapped back to the input image."""
    panoptic, segments = result.panoptic, result.segments
    if panoptic is not None:
        panoptic = labels_to_input(panoptic, geometry)
        segments = _with_areas(panoptic, segments)
    return replace(result, labels=labels_to_input(result.labels, geometry),
                   confidence=confidence_to_input(result.confidence, geometry), panoptic=panoptic, segments=segments)
