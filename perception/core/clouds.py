"""Point layouts of the clouds the graph publishes and the recordings carry, their packed fields, and the sweep
every model takes."""
import numpy as np

# lidar_segmentation output: the input points with the LiDAR model's per-point result
LABELED_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('label', '<u2'),
                          ('instance', '<u4'), ('confidence', '<f4')])
# fusion output, /perception/scene: fused class, instance and confidence, and the class colour for RViz
SCENE_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('label', '<u2'),
                        ('instance', '<u4'), ('confidence', '<f4'), ('rgb', '<f4')])
# a recording's /ground_truth/lidar/points: the sweep with `label` = pack_point_labels(class id, instance)
GROUND_TRUTH_POINT = np.dtype([('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('ring', '<u2'),
                               ('label', '<u4')])


def pack_point_labels(semantic: np.ndarray, instance: np.ndarray) -> np.ndarray:
    """(N,) uint32 `semantic | instance << 16`, the SemanticKITTI point label layout (instance ids < 65536)."""
    return np.asarray(semantic).astype(np.uint32) | (np.asarray(instance).astype(np.uint32) << 16)


def unpack_point_labels(label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of `pack_point_labels`: (semantic, instance), both uint32."""
    label = np.asarray(label, np.uint32)
    return label & 0xFFFF, label >> 16


def pack_rgb(rgb: np.ndarray) -> np.ndarray:
    """(..., 3) uint8 colours -> (...) float32 with bits 0x00RRGGBB: the PointCloud2 `rgb` field as RViz reads it."""
    rgb = np.asarray(rgb)
    if rgb.dtype != np.uint8 or rgb.shape[-1:] != (3,):
        raise ValueError(f'pack_rgb needs uint8 colours of shape (..., 3); got {rgb.dtype} {rgb.shape}')
    channels = rgb.astype(np.uint32)
    return (channels[..., 0] << 16 | channels[..., 1] << 8 | channels[..., 2]).view(np.float32)


def unpack_rgb(packed: np.ndarray) -> np.ndarray:
    """The inverse of `pack_rgb`: (...) float32 -> (..., 3) uint8."""
    bits = np.ascontiguousarray(packed, np.float32).view(np.uint32)
    return (np.stack([bits >> 16, bits >> 8, bits], axis=-1) & 0xFF).astype(np.uint8)


def sweep_array(cloud: np.ndarray) -> np.ndarray:
    """(N, 4) float32 x, y, z, intensity from a structured cloud (intensity 0 where the cloud has none).
    ValueError if x, y or z is missing or not float32/float64, or if x, y, z or intensity has several values."""
    names = cloud.dtype.names or ()
    missing = [axis for axis in 'xyz' if axis not in names]
    if missing:
        raise ValueError(f'point cloud has no {"/".join(missing)} field (fields: {", ".join(names) or "none"})')
    for name in ('x', 'y', 'z', 'intensity'):
        field = cloud.dtype.fields.get(name)
        if field is None:
            continue
        if field[0].shape:
            raise ValueError(f'point cloud field {name!r} has {field[0].shape[0]} values per point; expected 1')
        if name != 'intensity' and field[0].kind != 'f':
            raise ValueError(f'point cloud field {name!r} is {field[0].base.name}; x, y and z must be float32 or '
                             'float64')
    points = np.zeros((len(cloud), 4), np.float32)
    with np.errstate(over='ignore'):  # float64 values beyond float32 become inf, dropped as non-finite later
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


def point_groups(ids: np.ndarray, selected: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """[(id, indices of its points, ascending)] for each distinct id among the `selected` points (bool mask), in
    increasing id order: one sort instead of comparing the whole sweep with every id."""
    index = np.flatnonzero(selected)
    order = index[np.argsort(ids[index], kind='stable')]
    values, starts = np.unique(ids[order], return_index=True)
    return list(zip(values.tolist(), np.split(order, starts[1:])))
