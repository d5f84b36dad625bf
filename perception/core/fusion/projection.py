"""LiDAR points in the camera image: pinhole projection with the calibrated camera, and a depth-buffer occlusion
test so that a point hidden from the camera behind a nearer object does not take that object's label."""
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from perception.core.geometry import CameraIntrinsics, apply_transform, project_points


@dataclass(frozen=True, kw_only=True)
class OcclusionConfig:
    window: int = 5                 # pixels: the sparse depth buffer is min-filtered over window x window
    relative_tolerance: float = 0.05  # a point counts as visible within this share of the buffer depth ...
    absolute_tolerance: float = 0.3   # ... plus this many metres


@dataclass
class ImageProjection:
    """Where each point lands: pixel (u, v) (integers; valid where `visible`), depth (m) along the optical axis."""
    pixels: np.ndarray   # (N, 2) int
    depth: np.ndarray    # (N,) float
    in_image: np.ndarray  # (N,) bool: in front of the camera and inside the image
    visible: np.ndarray  # (N,) bool: in_image and not occluded


def project_to_image(xyz: np.ndarray, camera: CameraIntrinsics, camera_T_lidar: np.ndarray,
                     config: OcclusionConfig = OcclusionConfig()) -> ImageProjection:
    """Project (N, 3) points in the LiDAR frame into the camera and test them against the depth buffer that the
    points themselves make: a point is occluded if a markedly nearer point lands within the window around it."""
    uv, depth, in_image = project_points(apply_transform(camera_T_lidar, np.asarray(xyz, float)), camera)
    pixels = np.zeros((len(xyz), 2), np.int64)
    pixels[in_image] = np.round(uv[in_image]).astype(np.int64)
    visible = in_image.copy()
    if in_image.any():
        u, v = pixels[in_image].T
        buffer = np.full((camera.height, camera.width), np.inf)
        np.minimum.at(buffer, (v, u), depth[in_image])
        nearest = ndimage.minimum_filter(buffer, size=config.window, mode='nearest')[v, u]
        own = depth[in_image]
        visible[in_image] = own <= nearest * (1 + config.relative_tolerance) + config.absolute_tolerance
    return ImageProjection(pixels, depth, in_image, visible)
