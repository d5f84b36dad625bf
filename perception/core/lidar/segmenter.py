"""LiDAR semantic and instance segmentation of one sweep: points (N, 4) in; class, confidence, instance out.

Two backends behind one interface: 'sparse' (voxel U-Net, spconv) and 'pointnet2' (PointNet++ on grid-sampled
chunks). The weights file (models/lidar_net.py) holds the network's hyper-parameters and input preprocessing, so
`LidarModel.load` rebuilds exactly the trained network.
"""
import copy
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from perception.core.device import StageTimer, select_device
from perception.core.lidar.instances import ClusteringConfig, cluster_instances
from perception.core.parameters import section
from perception.models.lidar_net import BACKENDS, LidarNetInfo, build_lidar_net, load_lidar_net, save_lidar_net
from perception.paths import WEIGHTS_DIR, weights_file
from perception.preprocessing.voxelize import (POINT_FEATURES, GridChunks, PointBatch, check_features, collate,
                                               grid_chunks, valid_point_mask, voxelize)
from perception.taxonomy import Taxonomy, load_taxonomy


# The shipped weights each backend loads by default. The sparse U-Net's default is the slimmed, distilled one: on
# par with the full-width lidar_sparse.pt (its teacher) on the real sets, 14% less time per sweep, which the live
# graph needs to keep up with 10 Hz on 2 cores (README, Trained models).
DEFAULT_WEIGHTS = {'sparse': 'lidar_sparse_fast.pt', 'pointnet2': 'lidar_pointnet2.pt'}


def default_weights(backend: str) -> Path:
    """The shipped default weights of a backend."""
    return WEIGHTS_DIR / DEFAULT_WEIGHTS[backend]


def unseen_class_mask(taxonomy: Taxonomy, device: torch.device | str = 'cpu') -> torch.Tensor:
    """(num_classes,) bool: the classes a LiDAR never returns from (sky), whose logits are masked out."""
    return torch.tensor([i not in taxonomy.lidar_ids for i in range(taxonomy.num_classes)], device=device)


class LidarModel:
    """A LiDAR segmentation network and the input preprocessing it was trained with.

    `voxel_size` is the sparse backend's voxel edge or PointNet++'s grid-sampling cell, in metres;
    `chunk_points` is PointNet++'s points per chunk (0 for the sparse backend); `features` are the per-point
    inputs it reads (`POINT_FEATURES` names: without 'intensity' it never sees the sensor's reflectance, whose
    scale differs between LiDAR models). A loaded model also carries the
    `class_names` it was trained for and the `record` saved with it (metrics, training command).
    """

    def __init__(self, backend: str, network: torch.nn.Module, voxel_size: float, chunk_points: int = 0,
                 features=POINT_FEATURES):
        if backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
        if backend == 'pointnet2' and chunk_points < 1:
            raise ValueError('the pointnet2 backend needs chunk_points > 0')
        self.features = check_features(features)
        if len(self.features) != network.config.in_channels:
            raise ValueError(f'the network reads {network.config.in_channels} features per point, not the '
                             f'{len(self.features)} named {self.features}')
        self.backend, self.network, self.voxel_size, self.chunk_points = backend, network, voxel_size, chunk_points
        self.class_names: tuple[str, ...] = ()
        self.record: dict = {}
        self.folded = False  # batch norms folded into the layers (for_inference)

    @classmethod
    def build(cls, backend: str, model_config: dict, voxel_size: float, chunk_points: int = 0,
              features=POINT_FEATURES) -> 'LidarModel':
        """A freshly initialised network from its hyper-parameters (the fields of its config dataclass); its
        input width is the number of `features`."""
        model_config = {'in_channels': len(check_features(features)), **model_config}
        return cls(backend, build_lidar_net(backend, model_config), voxel_size, chunk_points, features)

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = 'cpu') -> 'LidarModel':
        """The model of a weights file (models/lidar_net.py) on `device`, in eval mode."""
        network, info = load_lidar_net(path)
        try:
            model = cls(info.backend, network, info.voxel_size, info.chunk_points, info.features)
        except ValueError as error:
            raise ValueError(f'{path}: {error}') from None
        model.class_names, model.record = info.class_names, info.record
        return model.to(device).eval()

    def for_inference(self) -> 'LidarModel':
        """A copy in eval mode with its batch norms folded into the layers before them: the same outputs for less
        CPU time (sparse U-Net ~5%, PointNet++ ~12%). It can be neither trained nor saved."""
        model = copy.deepcopy(self).eval()
        model.network.fold_batch_norms()
        model.folded = True
        return model

    def save(self, path: str | Path, class_names, record: dict | None = None) -> None:
        """Write the weights file: hyper-parameters, preprocessing, class names and a record (metrics, command)."""
        if self.folded:
            raise ValueError('a model folded for inference cannot be saved: save the model it was made from')
        save_lidar_net(path, self.network, LidarNetInfo(
            backend=self.backend, voxel_size=self.voxel_size, chunk_points=self.chunk_points, features=self.features,
            class_names=tuple(class_names), record=record or {}))

    @property
    def device(self) -> torch.device:
        return next(self.network.parameters()).device

    def to(self, device: str | torch.device) -> 'LidarModel':
        self.network.to(device)
        return self

    def eval(self) -> 'LidarModel':
        self.network.eval()
        return self

    def prepare(self, points: torch.Tensor) -> tuple[PointBatch, GridChunks | None]:
        """The network input for one (N, 4) sweep of finite points, on the points' device."""
        if self.backend == 'sparse':
            return voxelize(collate([points], features=self.features), self.voxel_size), None
        chunks = grid_chunks(points[:, :3], self.voxel_size, self.chunk_points, torch.Generator().manual_seed(0))
        return collate(list(points[chunks.index]), features=self.features), chunks  # (K, n, 4): a cloud per chunk

    def predict(self, batch: PointBatch, chunks: GridChunks | None) -> torch.Tensor:
        """(N, num_classes) logits for every point of the prepared sweep."""
        logits = self.network(batch)
        return logits if chunks is None else chunks.to_points(logits)

    def logits(self, points: torch.Tensor) -> torch.Tensor:
        return self.predict(*self.prepare(points))


@dataclass(frozen=True, kw_only=True)
class LidarSegmenterConfig:
    backend: str = 'sparse'  # 'sparse' or 'pointnet2'
    weights: str | None = None  # None: the backend's shipped default; a bare name: a shipped file (weights_file)
    voxel_size: float | None = None  # None: the voxel size the weights were trained with
    min_range: float = 1.0  # metres from the sensor; closer points (the ego vehicle) are not segmented
    max_range: float = 100.0
    device: str = 'auto'  # 'auto' (CUDA when available), 'cpu' or 'cuda'
    clustering: ClusteringConfig = field(default_factory=ClusteringConfig)

    @classmethod
    def from_parameters(cls, parameters: dict) -> 'LidarSegmenterConfig':
        """From the lidar_segmentation node's flat parameters (config/perception.yaml)."""
        model = section(parameters, 'model')
        return cls(backend=model['backend'], weights=model['weights'] or None,
                   min_range=parameters['range.min'], max_range=parameters['range.max'], device=model['device'],
                   clustering=ClusteringConfig(**section(parameters, 'instances')))

    def weights_path(self) -> Path:
        """The weights file this configuration loads."""
        return weights_file(self.weights) if self.weights else default_weights(self.backend)


@dataclass
class LidarSegmentation:
    """Per-point outputs of one sweep of N points. Points not segmented (`valid` False) have label 255 (ignore),
    confidence 0 and instance 0."""

    labels: np.ndarray  # (N,) uint8 class ids
    confidence: np.ndarray  # (N,) float32 softmax probability of the label
    instance: np.ndarray  # (N,) uint32, 0 for stuff; unique per sweep
    valid: np.ndarray  # (N,) bool: finite and within [min_range, max_range]
    dropped_nonfinite: int  # points with a NaN or infinite value
    dropped_out_of_range: int  # finite points outside [min_range, max_range]
    timing_ms: dict[str, float]  # per stage: preprocess, inference, clustering, total


class LidarSegmenter:
    """Loads the weights once; `process(points)` segments a sweep."""

    def __init__(self, config: LidarSegmenterConfig):
        if config.backend not in BACKENDS:
            raise ValueError(f'backend must be one of {BACKENDS}, got {config.backend!r}')
        if not 0 <= config.min_range < config.max_range:
            raise ValueError('need 0 <= min_range < max_range')
        self.config = config
        self.device = select_device(config.device)
        self.model = LidarModel.load(config.weights_path(), self.device).for_inference()
        if self.model.backend != config.backend:
            raise ValueError(f'the weights are for the {self.model.backend!r} backend, not {config.backend!r}')
        if config.voxel_size is not None:
            self.model.voxel_size = config.voxel_size
        self.taxonomy = load_taxonomy()
        if self.model.class_names != self.taxonomy.names:
            raise ValueError('the weights were trained for other classes than config/classes.yaml lists')
        self.unseen_classes = unseen_class_mask(self.taxonomy, self.device)

    def process(self, points: np.ndarray) -> LidarSegmentation:
        """Segment one sweep: points (N, 4) x, y, z, intensity; ValueError for any other shape."""
        timer = StageTimer(self.device, stages=('preprocess', 'inference', 'clustering'))
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] != 4:
            raise ValueError(f'points must be (N, 4) x, y, z, intensity, got shape {points.shape}')
        points = points.astype(np.float32, copy=False)
        finite = np.isfinite(points).all(axis=1)
        valid = valid_point_mask(points, self.config.min_range, self.config.max_range)
        count = len(points)
        labels = np.full(count, self.taxonomy.ignore_id, np.uint8)
        confidence = np.zeros(count, np.float32)
        instance = np.zeros(count, np.uint32)
        if valid.any():
            with torch.inference_mode():
                with timer('preprocess'):
                    batch, chunks = self.model.prepare(torch.from_numpy(points[valid]).to(self.device))
                with timer('inference'):
                    logits = self.model.predict(batch, chunks)
                    logits = logits.masked_fill(self.unseen_classes, float('-inf'))
                    probability, label = logits.softmax(dim=1).max(dim=1)
                    labels[valid], confidence[valid] = label.cpu().numpy(), probability.cpu().numpy()
            with timer('clustering'):
                instance[valid] = cluster_instances(points[valid, :3], labels[valid], self.taxonomy.thing_ids,
                                                    self.config.clustering)
        return LidarSegmentation(labels=labels, confidence=confidence, instance=instance, valid=valid,
                                 dropped_nonfinite=int((~finite).sum()),
                                 dropped_out_of_range=int((finite & ~valid).sum()), timing_ms=timer.finish())
