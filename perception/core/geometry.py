"""Camera intrinsics, rigid transforms and pinhole projection (REP 103 frames, REP 104 optical frames)."""
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.spatial.transform import Rotation


# sensor_msgs/CameraInfo distortion models (sensor_msgs/distortion_models.h) -> the lengths of D each takes (an
# empty D: no distortion). plumb_bob and rational_polynomial are OpenCV's pinhole model with k1 k2 p1 p2 [k3] and
# k1 k2 p1 p2 k3 k4 k5 k6; equidistant is its fisheye model with k1 k2 k3 k4.
DISTORTION_LENGTHS = {'plumb_bob': (0, 4, 5), 'rational_polynomial': (0, 8), 'equidistant': (0, 4)}


@dataclass(frozen=True, eq=False)
class CameraIntrinsics:
    """A calibrated camera as sensor_msgs/CameraInfo describes it (images are assumed unrectified by D).
    ValueError (one line, naming the problem) for intrinsics that make no camera or that OpenCV would reject."""

    width: int
    height: int
    K: np.ndarray  # (3, 3)
    D: np.ndarray = field(default_factory=lambda: np.zeros(5))
    distortion_model: str = 'plumb_bob'

    def __post_init__(self):
        if not all(isinstance(side, (int, np.integer)) and side > 0 for side in (self.width, self.height)):
            raise ValueError(f'camera image size must be positive integers, got {self.width}x{self.height}')
        K, D = np.asarray(self.K, float), np.asarray(self.D, float).ravel()
        if K.shape != (3, 3):
            raise ValueError(f'camera K must be 3x3, got shape {K.shape}')
        if not np.isfinite(K).all():
            raise ValueError('camera K must be finite (it has NaN or inf)')
        if K[0, 0] <= 0 or K[1, 1] <= 0:
            raise ValueError(f'camera focal lengths must be positive, got fx {K[0, 0]:g}, fy {K[1, 1]:g} '
                             '(an uncalibrated camera has zeros)')
        lengths = DISTORTION_LENGTHS.get(self.distortion_model)
        if lengths is None:
            raise ValueError(f'distortion_model {self.distortion_model!r} is not supported (supported: '
                             f'{", ".join(DISTORTION_LENGTHS)})')
        if len(D) not in lengths:
            counts = ' or '.join(str(n) for n in lengths if n)
            raise ValueError(f'{self.distortion_model} distortion needs {counts} coefficients, got {len(D)}')
        if not np.isfinite(D).all():
            raise ValueError('camera distortion coefficients must be finite (they have NaN or inf)')
        object.__setattr__(self, 'K', K)
        object.__setattr__(self, 'D', D)

    @property
    def fx(self) -> float:
        return float(self.K[0, 0])

    @property
    def fy(self) -> float:
        return float(self.K[1, 1])

    @property
    def cx(self) -> float:
        return float(self.K[0, 2])

    @property
    def cy(self) -> float:
        return float(self.K[1, 2])

    @classmethod
    def pinhole(cls, width: int, height: int, fx: float, fy: float, cx: float, cy: float) -> 'CameraIntrinsics':
        return cls(width, height, np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], float))

    def scaled(self, width: int, height: int) -> 'CameraIntrinsics':
        """The same camera resampled to width x height."""
        sx, sy = width / self.width, height / self.height
        K = self.K * np.array([[sx], [sy], [1.0]])
        K[0, 2] = (self.K[0, 2] + 0.5) * sx - 0.5
        K[1, 2] = (self.K[1, 2] + 0.5) * sy - 0.5
        return CameraIntrinsics(width, height, K, self.D.copy(), self.distortion_model)


def make_transform(translation=(0.0, 0.0, 0.0), quaternion_xyzw=(0.0, 0.0, 0.0, 1.0)) -> np.ndarray:
    """4x4 homogeneous transform from a translation and a unit quaternion (x, y, z, w)."""
    T = np.eye(4)
    T[:3, :3] = Rotation.from_quat(quaternion_xyzw).as_matrix()
    T[:3, 3] = translation
    return T


def transform_to_quaternion(T: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Translation (3,) and quaternion (x, y, z, w) of a 4x4 rigid transform."""
    return T[:3, 3].copy(), Rotation.from_matrix(T[:3, :3]).as_quat()


def invert_transform(T: np.ndarray) -> np.ndarray:
    inverse = np.eye(4)
    inverse[:3, :3] = T[:3, :3].T
    inverse[:3, 3] = -T[:3, :3].T @ T[:3, 3]
    return inverse


def apply_transform(T: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Apply a 4x4 transform to (N, 3) points."""
    return points @ T[:3, :3].T + T[:3, 3]


def project_points(points_camera: np.ndarray, camera: CameraIntrinsics, min_depth: float = 0.1):
    """Project (N, 3) points in the camera optical frame (z forward) to pixels.

    Returns (uv (N, 2) float pixel coordinates with (0, 0) the centre of the top-left pixel, depth (N,),
    visible (N,) bool: in front of the camera and inside the image).
    """
    points_camera = np.asarray(points_camera, float)
    depth = points_camera[:, 2]
    in_front = depth > min_depth
    uv = np.full((len(points_camera), 2), np.nan)
    if np.any(camera.D) and in_front.any():  # OpenCV returns None for no points
        if camera.distortion_model == 'equidistant':
            projected, _ = cv2.fisheye.projectPoints(points_camera[in_front][:, None], np.zeros(3), np.zeros(3),
                                                     camera.K, camera.D)
        else:  # plumb_bob, rational_polynomial
            projected, _ = cv2.projectPoints(points_camera[in_front], np.zeros(3), np.zeros(3), camera.K, camera.D)
        uv[in_front] = projected.reshape(-1, 2)
    else:
        p = points_camera[in_front]
        uv[in_front, 0] = camera.fx * p[:, 0] / p[:, 2] + camera.cx
        uv[in_front, 1] = camera.fy * p[:, 1] / p[:, 2] + camera.cy
    inside = (uv[:, 0] > -0.5) & (uv[:, 0] < camera.width - 0.5) & (uv[:, 1] > -0.5) & (uv[:, 1] < camera.height - 0.5)
    return uv, depth, in_front & inside
