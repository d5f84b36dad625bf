"""The LiDAR segmentation networks by backend and their weights file (as camera_net.py is the camera's).

A weights file holds the network's hyper-parameters, its state, and what its input preprocessing was
(voxel size or grid cell, PointNet++ chunk size, per-point features), the class names it was trained for and a
record (metrics, training command), so loading rebuilds exactly the trained network.
"""
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from perception.models.pointnet2 import PointNet2, PointNet2Config
from perception.models.serialization import compact_state_dict
from perception.models.sparse_unet import SparseUNet, SparseUNetConfig
from perception.preprocessing.voxelize import POINT_FEATURES

WEIGHTS_FORMAT = 'perception/lidar-segmentation/1'
NETWORKS = {'sparse': (SparseUNet, SparseUNetConfig), 'pointnet2': (PointNet2, PointNet2Config)}
BACKENDS = tuple(NETWORKS)


def _tuples(value):
    """Lists back to tuples (configs hold tuples; a weights file may hand back lists)."""
    return tuple(_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


def build_lidar_net(backend: str, model_config: dict) -> nn.Module:
    """A freshly initialised network of `backend` from its config dataclass's fields."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    network_class, config_class = NETWORKS[backend]
    return network_class(config_class(**{name: _tuples(value) for name, value in model_config.items()}))


@dataclass(frozen=True, kw_only=True)
class LidarNetInfo:
    """What a weights file says besides the network's state."""
    backend: str
    voxel_size: float          # sparse voxel edge or PointNet++ grid cell, metres
    chunk_points: int          # PointNet++ points per chunk; 0 for the sparse backend
    features: tuple[str, ...]  # per-point inputs (preprocessing.voxelize.POINT_FEATURES names)
    class_names: tuple[str, ...]
    record: dict = field(default_factory=dict)


def save_lidar_net(path: str | Path, network: nn.Module, info: LidarNetInfo) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({'format': WEIGHTS_FORMAT, 'backend': info.backend, 'model_config': asdict(network.config),
                'voxel_size': info.voxel_size, 'chunk_points': info.chunk_points, 'features': list(info.features),
                'class_names': list(info.class_names), 'state_dict': compact_state_dict(network),
                'record': info.record}, path)


def load_lidar_net(path: str | Path) -> tuple[nn.Module, LidarNetInfo]:
    """(network on the CPU, info). FileNotFoundError if there is no file; ValueError (naming it) if it is not
    a LiDAR weights file or names an unknown backend."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'no LiDAR weights at {path}: train them with `perception-train lidar`')
    weights = torch.load(path, map_location='cpu', weights_only=True)
    if weights.get('format') != WEIGHTS_FORMAT:
        raise ValueError(f'{path} is not a {WEIGHTS_FORMAT} weights file')
    try:
        network = build_lidar_net(weights['backend'], weights['model_config'])
    except ValueError as error:
        raise ValueError(f'{path}: {error}') from None
    network.load_state_dict(weights['state_dict'])
    return network, LidarNetInfo(backend=weights['backend'], voxel_size=weights['voxel_size'],
                                 chunk_points=weights['chunk_points'],
                                 features=tuple(weights.get('features', POINT_FEATURES)),  # older files: all
                                 class_names=tuple(weights['class_names']), record=weights.get('record', {}))
