"""Point layouts of the clouds the graph publishes, and the sweep every model takes."""
import numpy as np

# lidar_segmentation output: the input points with the LiDAR model's per-point result
LABELED_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('label', '<u2'),
                          ('instance', '<u4'), ('confidence', '<f4')])
# fusion output, /perception/scene: fused class, instance and confidence, and the class colour for RViz
SCENE_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('label', '<u2'),
                        ('instance', '<u4'), ('confidence', '<f4'), ('rgb', '<f4')])


def sweep_array(cloud: np.ndarray) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity from a structured cloud (intensity 0 where the cloud has none).
    ValueError if x, y or z is missing."""
    names = cloud.dtype.names or ()
    missing = [axis for axis in 'xyz' if axis not in names]
    if missing:
        raise ValueError(f'point cloud has no {"/".join(missing)} field (fields: {", ".join(names) or "none"})')
    points = np.zeros((len(cloud), 4), np.float32)
    for i, name in enumerate(('x', 'y', 'z', 'intensity')):
        if name in names:
            points[:, i] = cloud[name]
    return points


def labeled_points(points: np.ndarray, labels: np.ndarray, instance: np.ndarray, confidence: np.ndarray
                   ) -> np.ndarray:
    out = np.empty(len(points), LABELED_POINT)
    for i, name in enumerate(('x', 'y', 'z', 'intensity')):
        out[name] = points[:, i]
    out['label'], out['instance'], out['confidence'] = labels, instance, confidence
    return out
