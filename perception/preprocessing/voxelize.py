"""LiDAR network inputs: point features, offset batching, voxelisation and the PointNet++ grid chunks.

Training, the segmenter and evaluation all build their inputs with these functions; the models never voxelise.
Everything is torch on the tensors' device (CPU or CUDA).
"""
from dataclasses import dataclass, fields, replace

import numpy as np
import torch

POINT_FEATURES = ('x', 'y', 'z', 'intensity', 'range')  # every per-point input a network may be trained on


def valid_point_mask(points: np.ndarray, min_range: float, max_range: float) -> np.ndarray:
    """(N,) bool: the (N, >=4) points whose values are all finite and whose distance from the sensor lies in
    [min_range, max_range] metres."""
    finite = np.isfinite(points).all(axis=1)
    with np.errstate(invalid='ignore', over='ignore'):
        distance = np.linalg.norm(points[:, :3], axis=1)
    return finite & (distance >= min_range) & (distance <= max_range)


def check_features(features) -> tuple[str, ...]:
    """The feature names as a tuple; ValueError for an unknown or repeated name."""
    features = tuple(features)
    unknown = [f for f in features if f not in POINT_FEATURES]
    if unknown or len(set(features)) != len(features) or not features:
        raise ValueError(f'point features must be distinct names from {POINT_FEATURES}, got {features}')
    return features


def point_features(points: torch.Tensor, features=POINT_FEATURES) -> torch.Tensor:
    """(N, 4) x, y, z, intensity -> (N, F) the named features in the given order (a network trained without
    intensity never sees it)."""
    distance = torch.linalg.vector_norm(points[:, :3], dim=1, keepdim=True)
    columns = {'x': points[:, 0:1], 'y': points[:, 1:2], 'z': points[:, 2:3], 'intensity': points[:, 3:4],
               'range': distance}
    return torch.cat([columns[name] for name in check_features(features)], dim=1)


@dataclass
class PointBatch:
    """Variable-size point clouds concatenated along the point axis (Pointcept's offset convention).

    With N points in all, B clouds and V occupied voxels:

    - ``coord`` (N, 3) float32: x, y, z in metres, cloud 0's points first, then cloud 1's, ...
    - ``feat`` (N, F) float32: per-point network input, the model's features (a subset of `POINT_FEATURES`).
    - ``offset`` (B,) int64: end of each cloud in the point axis; cloud b is ``coord[offset[b-1]:offset[b]]``.
    - ``label`` (N,) int64 or None: training ids, 255 = ignore.
    - ``grid_coord`` (V, 4) int32 or None: (cloud index, i, j, k) of each occupied voxel, i, j, k >= 0.
    - ``voxel_feat`` (V, F) float32 or None: mean of ``feat`` over each voxel's points.
    - ``point_to_voxel`` (N,) int64 or None: row of ``grid_coord`` holding each point (the devoxelisation map).

    The voxel keys are set by `voxelize`.
    """

    coord: torch.Tensor
    feat: torch.Tensor
    offset: torch.Tensor
    label: torch.Tensor | None = None
    grid_coord: torch.Tensor | None = None
    voxel_feat: torch.Tensor | None = None
    point_to_voxel: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return len(self.offset)

    def batch_index(self) -> torch.Tensor:
        """(N,) int64 cloud index of each point."""
        counts = torch.diff(self.offset, prepend=self.offset.new_zeros(1))
        return torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)

    def to(self, device: torch.device | str) -> 'PointBatch':
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        return PointBatch(**{name: None if value is None else value.to(device) for name, value in values.items()})


def collate(clouds, labels=None, features=POINT_FEATURES) -> PointBatch:
    """Concatenate (N_b, 4) x, y, z, intensity clouds (numpy or torch) into a PointBatch of the named features,
    labels optional."""
    clouds = [torch.as_tensor(cloud, dtype=torch.float32) for cloud in clouds]
    if not clouds:
        raise ValueError('collate needs at least one cloud')
    points = torch.cat(clouds)
    offset = torch.cumsum(torch.tensor([len(cloud) for cloud in clouds], device=points.device), 0)
    label = None if labels is None else torch.cat([torch.as_tensor(lab).long() for lab in labels]).to(points.device)
    return PointBatch(coord=points[:, :3].contiguous(), feat=point_features(points, features), offset=offset,
                      label=label)


def _linear_keys(cells: torch.Tensor) -> torch.Tensor:
    """(N, D) non-negative int64 cells -> (N,) unique int64 keys (row-major over the occupied extent)."""
    extent = cells.amax(dim=0) + 1
    strides = torch.ones_like(extent)
    for axis in range(cells.shape[1] - 2, -1, -1):
        strides[axis] = strides[axis + 1] * extent[axis + 1]
    return (cells * strides).sum(dim=1)


def grid_cells(coord: torch.Tensor, voxel_size: float) -> torch.Tensor:
    """(N, 3) metres -> (N, 3) int64 voxel indices on a grid aligned with the sensor origin."""
    return torch.floor(coord / voxel_size).long()


def scatter_mean(values: torch.Tensor, index: torch.Tensor, size: int) -> torch.Tensor:
    """(N, C) values averaged into (size, C) rows by (N,) int64 index; empty rows are 0."""
    total = values.new_zeros(size, values.shape[1]).index_add_(0, index, values)
    count = torch.bincount(index, minlength=size).clamp_(min=1).unsqueeze(1)
    return total / count


def voxelize(batch: PointBatch, voxel_size: float) -> PointBatch:
    """The batch with its voxel keys set: each cloud's (finite) points binned into cubes of `voxel_size` metres.

    Voxels are sorted by cloud, so each cloud's voxels are contiguous rows of grid_coord.
    """
    if len(batch.coord) == 0:
        raise ValueError('cannot voxelise an empty batch')
    cells = grid_cells(batch.coord, voxel_size)
    batch_index = batch.batch_index()
    cloud_min = torch.full((batch.batch_size, 3), torch.iinfo(torch.int64).max, device=cells.device)
    cloud_min = cloud_min.scatter_reduce(0, batch_index[:, None].expand(-1, 3), cells, 'amin')
    cells = cells - cloud_min[batch_index]  # (N, 3), each cloud's smallest cell at 0
    keys = _linear_keys(torch.cat([batch_index[:, None], cells], dim=1))
    _, point_to_voxel = torch.unique(keys, return_inverse=True)
    num_voxels = int(point_to_voxel.max()) + 1
    grid_coord = torch.zeros(num_voxels, 4, dtype=torch.int64, device=cells.device)
    grid_coord[point_to_voxel] = torch.cat([batch_index[:, None], cells], dim=1)
    return replace(batch, grid_coord=grid_coord.int(), point_to_voxel=point_to_voxel,
                   voxel_feat=scatter_mean(batch.feat, point_to_voxel, num_voxels))


@dataclass
class GridChunks:
    """One cloud grid-sampled (one random point per occupied voxel) and cut into equal chunks: PointNet++ input.

    - ``index`` (K, n) int64: the cloud's points in each chunk, n = chunk size. The sampled points are shuffled
      and the last chunk is topped up with repeats, so every occupied voxel appears at least once and
      ``index[0]`` alone is a random n-point grid sample (a training input).
    - ``point_to_voxel`` (N,) int64: voxel of each point of the cloud.
    - ``num_voxels``: V, the number of occupied voxels.
    """

    index: torch.Tensor
    point_to_voxel: torch.Tensor
    num_voxels: int

    def to_points(self, chunk_values: torch.Tensor) -> torch.Tensor:
        """(K * n, C) values of the chunk points (chunk-major) -> (N, C) for every point of the cloud."""
        voxel_of_sample = self.point_to_voxel[self.index.reshape(-1)]  # (K * n,)
        voxel_values = chunk_values.new_zeros(self.num_voxels, chunk_values.shape[1])
        voxel_values[voxel_of_sample] = chunk_values
        return voxel_values[self.point_to_voxel]


def grid_chunks(coord: torch.Tensor, voxel_size: float, chunk_size: int,
                generator: torch.Generator | None = None) -> GridChunks:
    """Split the (N, 3) cloud's grid sample into chunks of `chunk_size` points (see GridChunks).

    The random draws use `generator` (a CPU generator; None: torch's global one) and are moved to coord's device.
    """
    num_points = len(coord)
    if num_points == 0:
        raise ValueError('cannot grid-sample an empty cloud')
    device = coord.device
    cells = grid_cells(coord, voxel_size)
    _, point_to_voxel = torch.unique(_linear_keys(cells - cells.amin(dim=0)), return_inverse=True)
    num_voxels = int(point_to_voxel.max()) + 1
    # Each voxel's sample is its first point in a random order of all points: a uniformly random one.
    rank = torch.randperm(num_points, generator=generator).to(device)  # (N,) random rank of each point
    first_rank = torch.full((num_voxels,), num_points, device=device).scatter_reduce(0, point_to_voxel, rank, 'amin')
    sample_of_voxel = torch.empty_like(rank)
    sample_of_voxel[rank] = torch.arange(num_points, device=device)
    samples = sample_of_voxel[first_rank]  # (V,) one point per voxel, in voxel order
    num_chunks = -(-num_voxels // chunk_size)
    top_up = torch.randint(num_voxels, (num_chunks * chunk_size - num_voxels,), generator=generator)
    shuffled = torch.cat([torch.randperm(num_voxels, generator=generator), top_up]).to(device)
    index = samples[shuffled].view(num_chunks, chunk_size)  # (K, n)
    return GridChunks(index=index, point_to_voxel=point_to_voxel, num_voxels=num_voxels)
