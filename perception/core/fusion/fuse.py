"""Camera + LiDAR evidence per point, fused into one labeled 3D scene.

Each modality's (label, confidence) is read as a distribution over classes: the confidence on its label, the rest
spread over the classes this modality mistakes for that label (from its confusion matrix on validation points,
perception-train fusion; evenly without one). Points the camera sees get the class maximising the weighted sum of
the two log-probabilities; points outside the image or hidden from the camera keep the LiDAR label. Instance ids
come from the LiDAR clusters, split where the camera's panoptic segments show two objects, and from camera segments
where the LiDAR found no thing.
"""
from dataclasses import dataclass, field

import numpy as np
from scipy.spatial import cKDTree

from perception.core.camera.panoptic import panoptic_to_instance
from perception.core.clouds import point_groups
from perception.core.fusion.calibration import FusionCalibration
from perception.core.fusion.projection import ImageProjection, OcclusionConfig
from perception.taxonomy import Taxonomy

MIN_PROBABILITY = 1e-3


@dataclass(frozen=True, kw_only=True)
class FusionConfig:
    calibration: FusionCalibration  # modality weights and confusion counts (core.fusion.calibration)
    min_split_points: int = 10     # a camera segment splits a LiDAR cluster only with this many points in it
    occlusion: OcclusionConfig = field(default_factory=OcclusionConfig)


@dataclass
class FusedScene:
    """Per point of the sweep: class, instance (0 for stuff), confidence; plus where each label came from."""
    labels: np.ndarray      # (N,) uint8, ignore for points neither modality labeled
    instance: np.ndarray    # (N,) uint32
    confidence: np.ndarray  # (N,) float32
    camera_seen: np.ndarray  # (N,) bool: visible to the camera, labels fused
    camera_labels: np.ndarray  # (N,) uint8: the camera's label at each seen point, ignore elsewhere


def error_distribution(confusion, num_classes: int) -> np.ndarray:
    """(K, K): row j is how the true class is distributed when the label j is wrong (Laplace-smoothed); uniform
    over the other classes without confusion counts."""
    counts = np.ones((num_classes, num_classes)) if not len(confusion) else np.asarray(confusion, float).T + 1.0
    if counts.shape != (num_classes, num_classes):
        raise ValueError(f'a confusion matrix needs {num_classes} x {num_classes} counts, got {counts.shape}')
    np.fill_diagonal(counts, 0.0)
    return counts / counts.sum(1, keepdims=True)


def _log_probabilities(labels: np.ndarray, confidence: np.ndarray, errors: np.ndarray) -> np.ndarray:
    """(N, K) log-probabilities: `confidence` on the label, the rest spread by the label's error distribution."""
    p = np.clip(confidence.astype(np.float64), MIN_PROBABILITY, 1 - MIN_PROBABILITY)
    out = np.log(np.maximum((1 - p)[:, None] * errors[labels], 1e-12))
    out[np.arange(len(labels)), labels] = np.log(p)
    return out


def fuse_labels(lidar_labels, lidar_confidence, camera_labels, camera_confidence, config: FusionConfig,
                num_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Fused (labels, confidence) for points both modalities labeled (all arrays (M,))."""
    calibration = config.calibration
    camera_errors = error_distribution(calibration.camera_confusion, num_classes)
    lidar_errors = error_distribution(calibration.lidar_confusion, num_classes)
    score = (calibration.camera_weight * _log_probabilities(camera_labels, camera_confidence, camera_errors)
             + calibration.lidar_weight * _log_probabilities(lidar_labels, lidar_confidence, lidar_errors))
    labels = score.argmax(1)
    posterior = np.exp(score - score.max(1, keepdims=True))
    confidence = posterior[np.arange(len(labels)), labels] / posterior.sum(1)
    return labels.astype(np.uint8), confidence.astype(np.float32)


def merge_instances(labels: np.ndarray, lidar_instance: np.ndarray, camera_instance: np.ndarray,
                    visible: np.ndarray, xyz: np.ndarray, taxonomy: Taxonomy, min_split_points: int) -> np.ndarray:
    """Instance ids of thing points (0 elsewhere), numbered 1..n.

    Objects are (LiDAR cluster, camera segment) groups: a LiDAR cluster whose visible points fall in two or more
    camera segments (each with at least min_split_points points) is split along them, its other points joining
    the part of their nearest split point; thing points without a LiDAR cluster are grouped by their camera segment.
    """
    thing = taxonomy.is_thing[labels]
    keys = np.full(len(labels), -1, np.int64)
    camera = np.where(visible, camera_instance.astype(np.int64), 0)
    for cluster, members in point_groups(lidar_instance, thing & (lidar_instance > 0)):
        parts, counts = np.unique(camera[members][camera[members] > 0], return_counts=True)
        parts = parts[counts >= min_split_points]
        key = cluster << 20
        if len(parts) < 2:
            keys[members] = key
            continue
        known = np.isin(camera[members], parts)
        part = np.searchsorted(parts, camera[members]).clip(0, len(parts) - 1)
        _, nearest_known = cKDTree(xyz[members][known]).query(xyz[members][~known])
        part[~known] = part[known][nearest_known]
        keys[members] = key + 1 + part
    orphans = thing & (keys < 0) & (camera > 0)
    keys[orphans] = (1 << 62) + camera[orphans]  # camera-only objects, one per segment
    instance = np.zeros(len(labels), np.uint32)
    grouped = keys >= 0
    instance[grouped] = np.unique(keys[grouped], return_inverse=True)[1] + 1
    return instance


def fuse_scene(xyz: np.ndarray, lidar_labels: np.ndarray, lidar_confidence: np.ndarray,
               lidar_instance: np.ndarray, projection: ImageProjection | None, camera_labels: np.ndarray | None,
               camera_confidence: np.ndarray | None, camera_panoptic: np.ndarray | None, taxonomy: Taxonomy,
               config: FusionConfig) -> FusedScene:
    """Fuse one sweep (xyz (N, 3) in the LiDAR frame, per-point LiDAR outputs) with one camera frame's outputs
    (label, confidence and panoptic images). Without a camera frame (projection None) the LiDAR result passes
    through."""
    labels = lidar_labels.astype(np.uint8).copy()
    confidence = lidar_confidence.astype(np.float32).copy()
    seen = np.zeros(len(labels), bool)
    camera_instance = np.zeros(len(labels), np.int64)
    camera_at_points = np.full(len(labels), taxonomy.ignore_id, np.uint8)
    if projection is not None:
        seen = projection.visible & (lidar_labels != taxonomy.ignore_id)
        u, v = projection.pixels[seen].T
        camera_at_points[seen] = camera_labels[v, u]
        labels[seen], confidence[seen] = fuse_labels(
            lidar_labels[seen], lidar_confidence[seen], camera_at_points[seen], camera_confidence[v, u], config,
            taxonomy.num_classes)
        if camera_panoptic is not None:
            camera_instance[seen] = panoptic_to_instance(camera_panoptic[v, u])
    instance = merge_instances(labels, lidar_instance, camera_instance, seen, np.asarray(xyz, float), taxonomy,
                               config.min_split_points)
    return FusedScene(labels, instance, confidence, seen, camera_at_points)
