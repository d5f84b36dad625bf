"""The labeled 3D scene as a structured point array (the /perception/scene cloud) and one box per instance."""
from dataclasses import dataclass

import numpy as np

from perception.core.clouds import SCENE_POINT, pack_rgb, point_groups
from perception.core.fusion.fuse import FusedScene
from perception.taxonomy import Taxonomy


def scene_points(points: np.ndarray, scene: FusedScene, taxonomy: Taxonomy) -> np.ndarray:
    """points (N, 4) x, y, z, intensity + the fused labels -> (N,) SCENE_POINT with taxonomy colours."""
    out = np.empty(len(points), SCENE_POINT)
    for i, name in enumerate(('x', 'y', 'z', 'intensity')):
        out[name] = points[:, i]
    out['label'], out['instance'], out['confidence'] = scene.labels, scene.instance, scene.confidence
    out['rgb'] = pack_rgb(taxonomy.colorize(scene.labels))
    return out


@dataclass(frozen=True)
class InstanceBox:
    instance: int
    label: int
    center: np.ndarray  # (3,)
    size: np.ndarray    # (3,) length along yaw, width, height
    yaw: float          # rad, about z in the points' frame
    points: int


def instance_boxes(xyz: np.ndarray, labels: np.ndarray, instance: np.ndarray) -> list[InstanceBox]:
    """An oriented box per instance: yaw from the principal axis of its points on the ground plane."""
    boxes = []
    for instance_id, indices in point_groups(instance, instance > 0):
        members = xyz[indices].astype(float)
        label = int(np.bincount(labels[indices]).argmax())
        planar = members[:, :2] - members[:, :2].mean(0)
        yaw = 0.0
        if len(members) >= 3:
            _, vectors = np.linalg.eigh(planar.T @ planar)
            yaw = float(np.arctan2(vectors[1, -1], vectors[0, -1]))
        c, s = np.cos(yaw), np.sin(yaw)
        local = planar @ np.array([[c, -s], [s, c]])  # coordinates along and across the principal axis
        lo, hi = local.min(0), local.max(0)
        middle = members[:, :2].mean(0) + np.array([[c, -s], [s, c]]) @ ((lo + hi) / 2)
        z_lo, z_hi = members[:, 2].min(), members[:, 2].max()
        boxes.append(InstanceBox(instance_id, label, np.array([*middle, (z_lo + z_hi) / 2]),
                                 np.array([*(hi - lo), z_hi - z_lo]), yaw, len(members)))
    return boxes
