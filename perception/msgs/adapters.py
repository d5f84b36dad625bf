"""Messages <-> the core's inputs and outputs, shared by the nodes and offline replay (so live and offline runs
convert alike). Readers raise ValueError (one line) for a message the core cannot take."""
from typing import NamedTuple

import numpy as np

from perception.core.clouds import labeled_points, sweep_array
from perception.core.fusion.pipeline import CameraOutputs, SceneResult
from perception.core.lidar.segmenter import LidarSegmentation
from perception.msgs.codec import array_to_image, array_to_pointcloud2, image_to_array, pointcloud2_to_array
from perception.msgs.diagnostics import OK, WARN
from perception.msgs.types import MessageTypes

CAMERA_INPUT_ENCODINGS = ('rgb8', 'bgr8')
# camera_segmentation outputs, in publishing order: name -> encoding
CAMERA_OUTPUT_ENCODINGS = {'labels': 'mono8', 'confidence': '32FC1', 'overlay': 'rgb8', 'panoptic': '32SC1'}
LABELED_FIELDS = ('x', 'y', 'z', 'intensity', 'label', 'instance', 'confidence')


# camera_segmentation ----------------------------------------------------------------------------------------------

def camera_input(msg) -> np.ndarray:
    """(H, W, 3) C-contiguous rgb uint8 of an rgb8 or bgr8 Image (bgr8 channels flipped)."""
    if msg.encoding not in CAMERA_INPUT_ENCODINGS:
        raise ValueError(f'camera_segmentation takes rgb8 or bgr8 images, not {msg.encoding!r}')
    image = image_to_array(msg)
    return np.ascontiguousarray(image[..., ::-1] if msg.encoding == 'bgr8' else image)


def camera_output_images(types: MessageTypes, outputs: dict, frame_id: str, stamp_ns: int) -> dict:
    """{name: Image} of the camera outputs given as {name: array} (CAMERA_OUTPUT_ENCODINGS names; None skipped),
    in publishing order."""
    return {name: array_to_image(types, outputs[name], encoding, frame_id, stamp_ns)
            for name, encoding in CAMERA_OUTPUT_ENCODINGS.items() if outputs.get(name) is not None}


# lidar_segmentation -----------------------------------------------------------------------------------------------

def lidar_input(msg) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity of a PointCloud2 of any layout (intensity 0 where it has none)."""
    return sweep_array(pointcloud2_to_array(msg))


def labeled_cloud(types: MessageTypes, points: np.ndarray, result: LidarSegmentation, frame_id: str,
                  stamp_ns: int):
    """The lidar_segmentation output: the input points with label, instance and confidence (LABELED_POINT)."""
    cloud = labeled_points(points, result.labels, result.instance, result.confidence)
    return array_to_pointcloud2(types, cloud, frame_id, stamp_ns)


# fusion -----------------------------------------------------------------------------------------------------------

class LabeledSweep(NamedTuple):
    points: np.ndarray      # (N, 4) float32 x, y, z, intensity
    labels: np.ndarray      # (N,) uint8
    confidence: np.ndarray  # (N,) float32
    instance: np.ndarray    # (N,) uint32


def fusion_sweep(msg) -> LabeledSweep:
    """The fusion input from a lidar_segmentation output cloud."""
    cloud = pointcloud2_to_array(msg)
    missing = set(LABELED_FIELDS) - set(cloud.dtype.names)
    if missing:
        raise ValueError(f'labeled cloud lacks fields {", ".join(sorted(missing))}')
    points = np.stack([cloud[n] for n in ('x', 'y', 'z', 'intensity')], 1).astype(np.float32)
    return LabeledSweep(points, cloud['label'].astype(np.uint8), cloud['confidence'], cloud['instance'])


def fusion_camera(images: dict) -> CameraOutputs:
    """The fusion input from one camera frame's output Images: 'labels', 'confidence' and optionally 'panoptic', in
    their CAMERA_OUTPUT_ENCODINGS (ValueError otherwise)."""
    missing = {'labels', 'confidence'} - set(images)
    if missing:
        raise ValueError(f'camera frame lacks {", ".join(sorted(missing))}')
    for part, msg in images.items():
        if msg.encoding != CAMERA_OUTPUT_ENCODINGS[part]:
            raise ValueError(f'camera {part} must be {CAMERA_OUTPUT_ENCODINGS[part]}, not {msg.encoding!r}')
    arrays = {part: image_to_array(msg).copy() for part, msg in images.items()}
    return CameraOutputs(labels=arrays['labels'], confidence=arrays['confidence'], panoptic=arrays.get('panoptic'))


def scene_cloud(types: MessageTypes, result: SceneResult, frame_id: str, stamp_ns: int):
    """The /perception/scene cloud (SCENE_POINT) of a fused sweep."""
    return array_to_pointcloud2(types, result.points, frame_id, stamp_ns)


def scene_status(result: SceneResult) -> tuple[str, str]:
    """(diagnostic level, message) of a fused sweep: WARN with the reason when it went out LiDAR-only."""
    if result.camera_fused:
        return OK, 'ok'
    return WARN, f'LiDAR-only scene ({result.lidar_only_reason})'
