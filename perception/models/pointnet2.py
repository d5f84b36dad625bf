"""PointNet++ segmentation network (Qi et al. 2017, multi-level set abstraction + feature propagation).

Input: a PointBatch of equal-size clouds (`perception.preprocessing.voxelize.grid_chunks`); the full sweep is
covered chunk by chunk and the chunk logits are spread back to every point by the caller.
"""
from dataclasses import dataclass

import torch
from torch import nn

from perception.models.folding import fold_batch_norm
from perception.models.point_ops import (
    ball_query, farthest_point_sampling, gather_points, group, three_nn_interpolate)
from perception.preprocessing.voxelize import PointBatch


@dataclass(frozen=True)
class PointNet2Config:
    in_channels: int = 5
    num_classes: int = 21
    num_centroids: tuple[int, ...] = (2048, 512, 128, 32)  # per set abstraction level
    radii: tuple[float, ...] = (1.0, 2.5, 6.0, 15.0)  # ball query radius per level, metres
    num_neighbours: int = 32
    sa_channels: tuple[tuple[int, ...], ...] = ((32, 32, 64), (64, 64, 128), (128, 128, 256), (256, 256, 256))
    fp_channels: tuple[tuple[int, ...], ...] = ((256, 256), (256, 128), (128, 128), (128, 128))  # deepest first


class SharedMLP(nn.Module):
    """Linear + batch norm + ReLU layers applied to the last dimension of a (..., C) tensor."""

    def __init__(self, in_channels: int, channels: tuple[int, ...]):
        super().__init__()
        self.linears = nn.ModuleList()
        self.norms = nn.ModuleList()
        for out_channels in channels:
            self.linears.append(nn.Linear(in_channels, out_channels, bias=False))
            self.norms.append(nn.BatchNorm1d(out_channels))
            in_channels = out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape[:-1]
        x = x.reshape(-1, x.shape[-1])  # (..., C) -> (M, C) for batch norm
        for linear, norm in zip(self.linears, self.norms):
            x = torch.relu(norm(linear(x)))
        return x.view(*shape, -1)  # (M, C') -> (..., C')

    def fold_batch_norm(self) -> None:
        for i, (linear, norm) in enumerate(zip(self.linears, self.norms)):
            self.norms[i] = fold_batch_norm(linear, norm)


class SetAbstraction(nn.Module):
    """Farthest-point centroids, ball-query neighbourhoods, a shared MLP and max pooling."""

    def __init__(self, num_centroids: int, radius: float, num_neighbours: int, in_channels: int,
                 channels: tuple[int, ...]):
        super().__init__()
        self.num_centroids, self.radius, self.num_neighbours = num_centroids, radius, num_neighbours
        self.mlp = SharedMLP(in_channels + 3, channels)

    def forward(self, xyz: torch.Tensor, features: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """xyz (B, N, 3), features (B, N, C) -> centroids (B, S, 3), their features (B, S, C')."""
        centres = gather_points(xyz, farthest_point_sampling(xyz, self.num_centroids))  # (B, S, 3)
        neighbours = ball_query(xyz, centres, self.radius, self.num_neighbours)  # (B, S, K)
        grouped = group(xyz, features, centres, neighbours, self.radius)  # (B, S, K, 3 + C)
        return centres, self.mlp(grouped).amax(dim=2)  # (B, S, K, C') -> (B, S, C')


class FeaturePropagation(nn.Module):
    """3-NN interpolation from a coarse level to a finer one, joined with the finer level's features.

    `reach`, about the coarse points' spacing (their ball radius), only speeds up the neighbour search.
    """

    def __init__(self, in_channels: int, channels: tuple[int, ...], reach: float):
        super().__init__()
        self.reach = reach
        self.mlp = SharedMLP(in_channels, channels)

    def forward(self, fine_xyz, coarse_xyz, fine_features, coarse_features) -> torch.Tensor:
        """fine (B, n, 3) and (B, n, C1), coarse (B, m, 3) and (B, m, C2) -> (B, n, C')."""
        interpolated = three_nn_interpolate(fine_xyz, coarse_xyz, coarse_features, self.reach)  # (B, n, C2)
        return self.mlp(torch.cat([interpolated, fine_features], dim=2))


class PointNet2(nn.Module):
    """PointNet++ semantic segmentation: forward(batch of B equal-size clouds) -> (N, num_classes) logits."""

    def __init__(self, config: PointNet2Config):
        super().__init__()
        levels = len(config.num_centroids)
        if not len(config.radii) == len(config.sa_channels) == len(config.fp_channels) == levels:
            raise ValueError('num_centroids, radii, sa_channels and fp_channels need one entry per level')
        self.config = config
        self.input_norm = nn.BatchNorm1d(config.in_channels)
        level_channels = [config.in_channels] + [channels[-1] for channels in config.sa_channels]
        self.set_abstractions = nn.ModuleList(
            SetAbstraction(config.num_centroids[i], config.radii[i], config.num_neighbours, level_channels[i],
                           config.sa_channels[i]) for i in range(levels))
        self.propagations = nn.ModuleList()
        coarse_channels = level_channels[-1]
        for i, channels in enumerate(config.fp_channels):
            # Three ball radii of the coarse level hold the 3 nearest coarse points of almost every fine point.
            self.propagations.append(FeaturePropagation(coarse_channels + level_channels[levels - 1 - i], channels,
                                                        reach=3 * config.radii[levels - 1 - i]))
            coarse_channels = channels[-1]
        self.head = nn.Sequential(SharedMLP(coarse_channels, (coarse_channels,)),
                                  nn.Linear(coarse_channels, config.num_classes))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Linear):
            nn.init.kaiming_normal_(module.weight, nonlinearity='relu')
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @staticmethod
    def select_input_features(state_dict: dict, keep: list[int], in_channels: int) -> dict:
        """A state dict of this network reading only input features `keep` (indices into the `in_channels` it was
        trained with): the input norm, the first set abstraction (which reads [xyz offset, features]) and the last
        feature propagation (which joins the input features) are sliced. For fine-tuning without a feature."""
        last = max(int(name.split('.')[1]) for name in state_dict if name.startswith('propagations.'))
        sliced = dict(state_dict)
        for name, value in state_dict.items():
            if name.startswith('input_norm.') and value.ndim == 1:
                sliced[name] = value[keep]
            elif name == 'set_abstractions.0.mlp.linears.0.weight':  # (out, 3 + F)
                sliced[name] = value[:, [0, 1, 2] + [3 + i for i in keep]]
            elif name == f'propagations.{last}.mlp.linears.0.weight':  # (out, coarse + F)
                coarse = value.shape[1] - in_channels
                sliced[name] = value[:, list(range(coarse)) + [coarse + i for i in keep]]
        return sliced

    def fold_batch_norms(self) -> 'PointNet2':
        """For inference only (eval mode): each shared MLP's batch norms folded into its linear layers; same
        outputs. The folded network is not a trainable or saveable one."""
        for module in self.modules():
            if isinstance(module, SharedMLP):
                module.fold_batch_norm()
        return self

    def forward(self, batch: PointBatch) -> torch.Tensor:
        sizes = torch.diff(batch.offset, prepend=batch.offset.new_zeros(1))
        if (sizes != sizes[0]).any():
            raise ValueError('PointNet2 needs clouds of equal size (grid_chunks)')
        batch_size = batch.batch_size
        xyz = [batch.coord.view(batch_size, -1, 3)]  # (N, 3) -> (B, n, 3)
        features = [self.input_norm(batch.feat).view(batch_size, -1, batch.feat.shape[1])]  # (N, F) -> (B, n, F)
        for set_abstraction in self.set_abstractions:
            centres, centre_features = set_abstraction(xyz[-1], features[-1])
            xyz.append(centres)
            features.append(centre_features)
        coarse = features.pop()
        for propagation in self.propagations:
            coarse_xyz = xyz.pop()
            coarse = propagation(xyz[-1], coarse_xyz, features.pop(), coarse)
        return self.head(coarse).reshape(len(batch.coord), -1)  # (B, n, classes) -> (N, classes)
