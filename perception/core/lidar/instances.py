"""Instance ids for LiDAR thing points: DBSCAN (open3d) on each thing class's points."""
from dataclasses import dataclass

import numpy as np
import open3d as o3d
from scipy.spatial import cKDTree


@dataclass(frozen=True)
class ClusteringConfig:
    eps: float = 0.7  # DBSCAN neighbourhood radius, metres: larger than the beam spacing on a car at range
    min_points: int = 3  # DBSCAN core-point threshold (the point itself included)
    noise_reach: float = 1.4  # a noise point joins the nearest cluster of its class within this distance, metres


def cluster_instances(xyz: np.ndarray, labels: np.ndarray, thing_ids, config: ClusteringConfig) -> np.ndarray:
    """(N,) uint32 instance ids: 0 for stuff points, 1, 2, ... for the clusters of each thing class.

    Each thing class's points (xyz (N, 3), labels (N,) class ids) are clustered on their own. A point DBSCAN calls
    noise joins the nearest cluster of its class within `noise_reach`; noise farther from every cluster becomes
    an instance of its own, so every thing point gets a nonzero id.
    """
    instance = np.zeros(len(labels), np.uint32)
    next_id = 1
    for class_id in thing_ids:
        members = np.flatnonzero(labels == class_id)
        if not len(members):
            continue
        points = np.asarray(xyz, np.float64)[members]
        cluster = np.asarray(o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points)).cluster_dbscan(
            config.eps, config.min_points, print_progress=False))
        noise = cluster < 0
        if noise.any() and not noise.all():
            distance, nearest = cKDTree(points[~noise]).query(points[noise], distance_upper_bound=config.noise_reach)
            joined = np.isfinite(distance)
            rows = np.flatnonzero(noise)[joined]
            cluster[rows] = cluster[~noise][nearest[joined]]
            noise[rows] = False
        num_clusters = int(cluster.max(initial=-1)) + 1
        cluster[noise] = num_clusters + np.arange(noise.sum())
        instance[members] = next_id + cluster
        next_id += num_clusters + int(noise.sum())
    return instance
