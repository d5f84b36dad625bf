"""The KITTI object layout (devkit conventions): labelled 3D boxes, calibration, and which LiDAR points fall in a
box or in the image.

    ROOT/velodyne/NNNNNN.bin   float32 x, y, z, reflectance (LiDAR frame: x forward, y left, z up)
    ROOT/image_2/NNNNNN.png    left colour camera
    ROOT/label_2/NNNNNN.txt    one object per line: type truncated occluded alpha left top right bottom
                               height width length x y z rotation_y [score]
    ROOT/calib/NNNNNN.txt      P0..P3 (3x4), R0_rect (3x3), Tr_velo_to_cam (3x4), ...

A box's location is the centre of its bottom face in rectified camera coordinates (x right, y down, z forward);
rotation_y turns it about the camera's y axis. Label files whose records run together without line breaks (as in
some exported 2D-box sets) are read the same way: every record starts at a type name.
"""
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_TOKEN = re.compile(r'[A-Za-z_]+|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?')


@dataclass(frozen=True)
class KittiObject:
    type: str
    box_2d: np.ndarray      # (4,) left, top, right, bottom in pixels
    dimensions: np.ndarray  # (3,) height, width, length in metres
    location: np.ndarray    # (3,) bottom-face centre in rectified camera coordinates
    rotation_y: float


@dataclass(frozen=True)
class KittiCalib:
    P2: np.ndarray              # (3, 4) rectified camera 0 -> image_2 pixels
    R0_rect: np.ndarray         # (4, 4) camera 0 -> rectified camera 0
    Tr_velo_to_cam: np.ndarray  # (4, 4) LiDAR -> camera 0

    @property
    def velo_to_rect(self) -> np.ndarray:
        """(4, 4) LiDAR -> rectified camera coordinates."""
        return self.R0_rect @ self.Tr_velo_to_cam


def read_labels(path) -> list[KittiObject]:
    """The objects of a label_2 file (DontCare regions included; their type says so)."""
    path = Path(path)
    tokens = _TOKEN.findall(path.read_text())
    records, objects = [], []
    for token in tokens:
        if token[0].isalpha() or token[0] == '_':
            records.append([token])
        elif records:
            records[-1].append(token)
        else:
            raise ValueError(f'{path}: a label record must start with the object type, got {token!r}')
    for record in records:
        if len(record) not in (15, 16):
            raise ValueError(f'{path}: a {record[0]} record has {len(record)} fields, expected 15 (or 16 with score)')
        values = np.array(record[1:15], float)
        objects.append(KittiObject(record[0], values[3:7], values[7:10], values[10:13], float(values[13])))
    return objects


def read_calib(path) -> KittiCalib:
    path = Path(path)
    matrices = {}
    for line in path.read_text().splitlines():
        if ':' in line:
            name, values = line.split(':', 1)
            matrices[name.strip()] = np.array(values.split(), float)
    try:
        rect = np.eye(4)
        rect[:3, :3] = matrices['R0_rect'].reshape(3, 3)
        velo_to_cam = np.vstack([matrices['Tr_velo_to_cam'].reshape(3, 4), [0, 0, 0, 1]])
        return KittiCalib(matrices['P2'].reshape(3, 4), rect, velo_to_cam)
    except (KeyError, ValueError) as error:
        raise ValueError(f'{path}: not a KITTI object calib file ({error!r})') from None


def to_rect(xyz: np.ndarray, calib: KittiCalib) -> np.ndarray:
    """(N, 3) LiDAR points -> (N, 3) rectified camera coordinates."""
    return xyz @ calib.velo_to_rect[:3, :3].T + calib.velo_to_rect[:3, 3]


def in_image(xyz: np.ndarray, calib: KittiCalib, image_size: tuple[int, int]) -> np.ndarray:
    """(N,) bool: LiDAR points in front of the camera that project inside an image of (height, width) pixels."""
    rect = to_rect(xyz, calib)
    pixels = np.column_stack([rect, np.ones(len(rect))]) @ calib.P2.T
    front = pixels[:, 2] > 0
    u = np.where(front, pixels[:, 0] / np.where(front, pixels[:, 2], 1), -1)
    v = np.where(front, pixels[:, 1] / np.where(front, pixels[:, 2], 1), -1)
    return front & (u >= 0) & (u < image_size[1]) & (v >= 0) & (v < image_size[0])


def in_box(xyz: np.ndarray, calib: KittiCalib, box: KittiObject, margin: float = 0.0) -> np.ndarray:
    """(N,) bool: LiDAR points inside the object's 3D box grown by `margin` metres sideways and upwards (not below
    its bottom face, which rests on the ground)."""
    c, s = np.cos(box.rotation_y), np.sin(box.rotation_y)
    # the devkit's box corners are R @ local + location with R the rotation about y by rotation_y
    local = (to_rect(xyz, calib) - box.location) @ np.array([[c, 0, s], [0, 1, 0], [-s, 0, c]])
    height, width, length = box.dimensions
    return ((np.abs(local[:, 0]) <= length / 2 + margin) & (np.abs(local[:, 2]) <= width / 2 + margin)
            & (local[:, 1] <= 0) & (local[:, 1] >= -height - margin))
