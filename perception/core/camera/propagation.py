"""Flow-guided feature propagation (Deep Feature Flow, Zhu et al. 2017): optical flow from the current frame to
the last key frame, bilinear warping of the key frame's feature pyramid along it, and the key-frame policy."""
from dataclasses import dataclass

import cv2
import numpy as np
import torch
import torch.nn.functional as F


DIS_PRESETS = {'ultrafast': cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, 'fast': cv2.DISOPTICAL_FLOW_PRESET_FAST,
               'medium': cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}


@dataclass(frozen=True, kw_only=True)
class PropagationConfig:
    policy: str = 'adaptive'        # 'fixed': a key frame every `interval` frames; 'adaptive': also when a cue fires
    interval: int = 4               # fixed policy: frames per key frame; adaptive: the longest allowed gap
    max_flow_px: float = 30.0       # adaptive: mean flow magnitude (full-resolution pixels) that forces a key frame
    max_photometric_error: float = 1.0  # adaptive: mean |current - warped key| of grey levels in [0, 1]
    max_unexplained: float = 0.3    # adaptive: share of pixels the flow does not explain (|current - warped key| >
    #                                 UNEXPLAINED_ERROR); 1.0 never fires
    max_scene_change: float = 0.5   # adaptive: 1 - correlation of the grey histograms of key and current frame
    max_gap_s: float = 0.5          # a longer gap between stamps (or a stamp going back) resets propagation
    flow_scale: float = 0.5         # flow is estimated on images resized by this factor
    flow_preset: str = 'medium'     # OpenCV DIS preset
    correction: bool = True         # correct warped features with the current frame (if the network has the branch)

    def __post_init__(self):
        if self.policy not in ('fixed', 'adaptive'):
            raise ValueError(f"policy must be 'fixed' or 'adaptive', got {self.policy!r}")
        if self.interval < 1:
            raise ValueError(f'interval must be at least 1, got {self.interval}')
        if self.flow_preset not in DIS_PRESETS:
            raise ValueError(f'flow_preset must be one of {", ".join(DIS_PRESETS)}, got {self.flow_preset!r}')
        if not 0 < self.flow_scale <= 1:
            raise ValueError(f'flow_scale must be in (0, 1], got {self.flow_scale}')


# Sizes OpenCV's DIS flow takes (measured on opencv 5.0 for every preset): it raises, or crashes, when a side of the
# image it is given is under 32 pixels at extreme aspect ratios; cv2.remap (photometric error) needs sides < 32767.
MIN_FLOW_SIDE = 32
MAX_FLOW_SIDE = 32766


def flow_size(height: int, width: int, scale: float) -> tuple[int, int] | None:
    """(height, width) at which flow of a height x width image is estimated: scaled by `scale`, but no side under
    MIN_FLOW_SIDE unless the image's own is; None where DIS or cv2.remap cannot take the image."""
    if min(height, width) < MIN_FLOW_SIDE or max(height, width) > MAX_FLOW_SIDE:
        return None
    return max(MIN_FLOW_SIDE, round(height * scale)), max(MIN_FLOW_SIDE, round(width * scale))


class FlowEstimator:
    """Dense optical flow with OpenCV DIS: for every pixel p of `current`, key(p + flow(p)) ~ current(p)."""

    def __init__(self, config: PropagationConfig):
        self.scale = config.flow_scale
        self.dis = cv2.DISOpticalFlow_create(DIS_PRESETS[config.flow_preset])

    def __call__(self, current_grey: np.ndarray, key_grey: np.ndarray) -> np.ndarray | None:
        """(H, W) uint8 grey images of one size -> (H, W, 2) float32 flow in full-resolution pixels (dx, dy), or
        None for a size flow cannot be estimated at (see flow_size): such a frame must be a key frame."""
        for image in (current_grey, key_grey):
            if image.dtype != np.uint8 or image.ndim != 2:
                raise ValueError(f'flow needs (H, W) uint8 grey images, got {image.dtype} of shape {image.shape}')
        if current_grey.shape != key_grey.shape:
            raise ValueError(f'flow needs two images of the same size, got {current_grey.shape[::-1]} and '
                             f'{key_grey.shape[::-1]}')
        h, w = current_grey.shape
        size = flow_size(h, w, self.scale)
        if size is None:
            return None
        if size != (h, w):
            current_grey = cv2.resize(current_grey, size[::-1], interpolation=cv2.INTER_AREA)
            key_grey = cv2.resize(key_grey, size[::-1], interpolation=cv2.INTER_AREA)
        flow = self.dis.calc(np.ascontiguousarray(current_grey), np.ascontiguousarray(key_grey), None)
        if size != (h, w):
            flow = cv2.resize(flow, (w, h), interpolation=cv2.INTER_LINEAR)
            flow[..., 0] *= w / size[1]
            flow[..., 1] *= h / size[0]
        return flow


def warp(features: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """Sample (B, C, h, w) features at p + flow(p); flow (B, 2, h, w) in this map's pixels. Outside: border."""
    _, _, h, w = features.shape
    ys, xs = torch.meshgrid(torch.arange(h, device=flow.device, dtype=flow.dtype),
                            torch.arange(w, device=flow.device, dtype=flow.dtype), indexing='ij')
    x = (xs + flow[:, 0] + 0.5) / w * 2 - 1  # align_corners=False: pixel centres at (i + 0.5) / size
    y = (ys + flow[:, 1] + 0.5) / h * 2 - 1
    return F.grid_sample(features, torch.stack([x, y], -1), mode='bilinear', padding_mode='border',
                         align_corners=False)


def warp_pyramid(pyramid: dict[str, torch.Tensor], flow: np.ndarray, levels=None) -> dict[str, torch.Tensor]:
    """Warp each level (or those named in `levels`) of a key frame's pyramid with the full-resolution flow (H, W, 2),
    H and W = the padded input size: the flow is area-averaged to each level and scaled to its resolution."""
    any_level = next(iter(pyramid.values()))
    full = torch.from_numpy(flow).to(any_level.device, any_level.dtype).permute(2, 0, 1)[None]  # (1, 2, H, W)
    height, width = flow.shape[:2]
    warped = {}
    for level, features in pyramid.items():
        if levels is not None and level not in levels:
            continue
        h, w = features.shape[-2:]
        scale = torch.tensor([w / width, h / height], dtype=full.dtype, device=full.device).view(1, 2, 1, 1)
        level_flow = F.adaptive_avg_pool2d(full, (h, w)) * scale
        warped[level] = warp(features, level_flow.expand(features.shape[0], -1, -1, -1))
    return warped


UNEXPLAINED_ERROR = 0.1  # grey-level difference (0..1) above which the flow does not explain a pixel


def photometric_error(current_grey: np.ndarray, key_grey: np.ndarray, flow: np.ndarray) -> np.ndarray:
    """(H, W) |current - key warped to current| in [0, 1]: where the flow explains the new frame (near 0)."""
    h, w = current_grey.shape
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    warped = cv2.remap(key_grey, xs + flow[..., 0], ys + flow[..., 1], cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    return np.abs(current_grey.astype(np.float32) - warped.astype(np.float32)) / 255.0


def scene_change(current_grey: np.ndarray, key_grey: np.ndarray) -> float:
    """1 - correlation of the 32-bin grey histograms: near 0 for the same scene, near 1 for a cut."""
    histograms = [cv2.calcHist([image], [0], None, [32], [0, 256]) for image in (current_grey, key_grey)]
    return float(1.0 - cv2.compareHist(histograms[0], histograms[1], cv2.HISTCMP_CORREL))


@dataclass(frozen=True)
class KeyFrameDecision:
    key: bool
    reason: str  # 'first', 'reset', 'no_flow', 'interval', 'flow', 'photometric', 'unexplained', 'scene_change';
    #              '' if propagated
    mean_flow_px: float = 0.0
    photometric_error: float = 0.0
    unexplained: float = 0.0
    scene_change: float = 0.0


def decide_key_frame(config: PropagationConfig, frames_since_key: int, current_grey: np.ndarray,
                     key_grey: np.ndarray, flow: np.ndarray | None) -> KeyFrameDecision:
    """Whether the current frame (frames_since_key frames after the last key frame) must be a key frame; always
    when there is no flow (an image size flow cannot be estimated at)."""
    if flow is None:
        return KeyFrameDecision(True, 'no_flow')
    if frames_since_key >= config.interval:
        return KeyFrameDecision(True, 'interval')
    if config.policy == 'fixed':
        return KeyFrameDecision(False, '')
    change = scene_change(current_grey, key_grey)
    magnitude = float(np.linalg.norm(flow, axis=-1).mean())
    errors = photometric_error(current_grey, key_grey, flow)
    error, unexplained = float(errors.mean()), float((errors > UNEXPLAINED_ERROR).mean())
    cues = {'scene_change': change > config.max_scene_change, 'flow': magnitude > config.max_flow_px,
            'photometric': error > config.max_photometric_error, 'unexplained': unexplained > config.max_unexplained}
    reason = next((name for name, fired in cues.items() if fired), '')
    return KeyFrameDecision(bool(reason), reason, magnitude, error, unexplained, change)
