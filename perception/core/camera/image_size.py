"""Any image size in, the network's working size inside: the camera's resize-and-pad policy.

The camera network is trained on simulated frames 640 pixels wide, so an image of any size and aspect ratio
(CamVid 4:3, Cityscapes 2:1, nuScenes 16:9, KITTI 3.3:1) is:

1. resized to the working width (default 640), keeping its aspect ratio: the objects' size in pixels then
   matches training as long as the field of view is similar (area interpolation when shrinking, bilinear when
   enlarging). An image taller than MAX_WORKING_ASPECT times its width (a portrait strip, say) is resized to a
   height of MAX_WORKING_ASPECT working widths instead, so that memory stays bounded;
2. padded at the bottom and right, replicating the edge pixels, to a multiple of 32 in both directions (the
   network's total stride);
3. segmented; then the outputs are cropped back to the resized image and resized to the input size: labels and
   instance ids by nearest neighbour, confidence bilinearly.

The functions are pure (arrays in, arrays out) and shared by the camera segmenter (``input_width``) and
perception-eval.
"""
from dataclasses import dataclass

import cv2
import numpy as np

DEFAULT_WORKING_WIDTH = 640
PAD_MULTIPLE = 32  # the network's total stride
MAX_WORKING_ASPECT = 2  # working height at most this many working widths (portrait images shrink further)


@dataclass(frozen=True)
class WorkingGeometry:
    """Sizes (height, width) of one image on its way through the network."""

    input: tuple[int, int]    # as given
    resized: tuple[int, int]  # at the working width, same aspect ratio
    padded: tuple[int, int]   # resized, padded to multiples of PAD_MULTIPLE


def working_geometry(height: int, width: int, working_width: int = DEFAULT_WORKING_WIDTH) -> WorkingGeometry:
    """The geometry of an image of height x width pixels at the working width."""
    if min(height, width) < 1 or working_width < PAD_MULTIPLE:
        raise ValueError(f'need a non-empty image and a working width of at least {PAD_MULTIPLE}, '
                         f'got {width}x{height} and {working_width}')
    scale = min(working_width / width, MAX_WORKING_ASPECT * working_width / height)
    resized = (max(1, round(height * scale)), max(1, round(width * scale)))
    padded = tuple(-(-side // PAD_MULTIPLE) * PAD_MULTIPLE for side in resized)
    return WorkingGeometry((height, width), resized, padded)


def to_working(image: np.ndarray, geometry: WorkingGeometry) -> np.ndarray:
    """The (H, W, C) image resized and edge-padded to ``geometry.padded``."""
    (height, width), (padded_h, padded_w) = geometry.resized, geometry.padded
    shrinking = width < image.shape[1]
    resized = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    resized = resized.reshape(height, width, *image.shape[2:])
    pad = ((0, padded_h - height), (0, padded_w - width)) + ((0, 0),) * (image.ndim - 2)
    return np.pad(resized, pad, mode='edge')


def _check_output(values: np.ndarray, geometry: WorkingGeometry) -> None:
    if values.shape[:2] not in (geometry.padded, geometry.resized):
        raise ValueError(f'expected an output of {geometry.padded} or {geometry.resized}, got {values.shape[:2]}')


def labels_to_input(labels: np.ndarray, geometry: WorkingGeometry) -> np.ndarray:
    """(h, w) class or instance ids at the working size -> the input size: nearest neighbour (pixel centres),
    any dtype kept."""
    _check_output(labels, geometry)
    (height, width), (input_h, input_w) = geometry.resized, geometry.input
    rows = np.minimum((np.arange(input_h) + 0.5) * height / input_h, height - 1).astype(np.intp)
    columns = np.minimum((np.arange(input_w) + 0.5) * width / input_w, width - 1).astype(np.intp)
    return labels[rows[:, None], columns[None, :]]


def confidence_to_input(confidence: np.ndarray, geometry: WorkingGeometry) -> np.ndarray:
    """(h, w) float confidence at the working size -> the input size (bilinear), float32."""
    _check_output(confidence, geometry)
    (height, width), (input_h, input_w) = geometry.resized, geometry.input
    cropped = np.ascontiguousarray(confidence[:height, :width], np.float32)
    return cv2.resize(cropped, (input_w, input_h), interpolation=cv2.INTER_LINEAR)
