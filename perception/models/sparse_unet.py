"""Sparse voxel U-Net (MinkUNet-like, spconv) with a point branch: per-point logits from a voxelised PointBatch.

The input is `perception.preprocessing.voxelize.voxelize`'s output; the network only reads its maps.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from perception.models.folding import fold_batch_norm
from perception.preprocessing.voxelize import PointBatch

try:
    import spconv.pytorch as spconv
except ImportError:  # the package still imports without spconv; SparseUNet() raises
    spconv = None


def _patch_spconv_cpu() -> None:
    """Two fixes to spconv 2.3.8's CPU path (CPU tensors; CUDA tensors never reach either function).

    - `ops.indice_conv_backward` fetches the current CUDA stream unconditionally, which raises "Torch not compiled
      with CUDA enabled" on a CPU-only torch; the CPU branch never uses the stream, so a dummy one is enough
      (https://github.com/traveller59/spconv/issues/366).
    - `SpconvOps.scatter_add_cpu` (csrc/sparse/gather.py) shares its row pointers between the threads of its
      parallel loop, so with more than one thread rows land in the wrong voxels and convolution outputs vary from
      run to run (https://github.com/traveller59/spconv/issues/679). torch's index_add_ does the same sum safely.
    """
    if spconv is None:
        return
    import spconv.pytorch.ops as spconv_ops

    class SpconvOpsWithSafeScatter(spconv_ops.SpconvOps):
        @staticmethod
        def scatter_add_cpu(out, rows, index) -> None:
            """out[index[i]] += rows[i] for i < len(index) (tensorview tensors on the CPU)."""
            index = torch.from_numpy(index.numpy_view()).long()
            rows = torch.from_numpy(rows.numpy_view())[:len(index)]
            torch.from_numpy(out.numpy_view()).index_add_(0, index, rows)

    spconv_ops.SpconvOps = SpconvOpsWithSafeScatter
    if not torch.cuda.is_available():
        spconv_ops.get_current_stream = lambda: 0


_patch_spconv_cpu()


@dataclass(frozen=True)
class SparseUNetConfig:
    in_channels: int = 5
    num_classes: int = 21
    channels: tuple[int, ...] = (16, 32, 64, 128, 128)  # per stage; stage 0 at the voxel size, then strided by 2
    point_channels: int = 32  # width of the per-point branch; 0 leaves it out


class ConvNormReLU(nn.Module):
    """A sparse convolution, then batch norm and ReLU on the voxel features."""

    def __init__(self, conv: nn.Module):
        super().__init__()
        self.conv = conv
        self.norm = nn.BatchNorm1d(conv.out_channels)

    def forward(self, x):
        x = self.conv(x)
        return x.replace_feature(F.relu_(self.norm(x.features)))

    def fold_batch_norm(self) -> None:
        self.norm = fold_batch_norm(self.conv, self.norm)


class ResidualBlock(nn.Module):
    """Two 3x3x3 submanifold convolutions around an identity (or 1x1 projection) shortcut."""

    def __init__(self, in_channels: int, out_channels: int, indice_key: str):
        super().__init__()
        self.conv1 = ConvNormReLU(spconv.SubMConv3d(in_channels, out_channels, 3, bias=False, indice_key=indice_key))
        self.conv2 = spconv.SubMConv3d(out_channels, out_channels, 3, bias=False, indice_key=indice_key)
        self.norm2 = nn.BatchNorm1d(out_channels)
        self.shortcut = nn.Identity() if in_channels == out_channels else nn.Sequential(
            nn.Linear(in_channels, out_channels, bias=False), nn.BatchNorm1d(out_channels))

    def forward(self, x):
        out = self.conv2(self.conv1(x))
        return out.replace_feature(F.relu_(self.norm2(out.features) + self.shortcut(x.features)))

    def fold_batch_norm(self) -> None:
        self.conv1.fold_batch_norm()
        self.norm2 = fold_batch_norm(self.conv2, self.norm2)
        if not isinstance(self.shortcut, nn.Identity):
            fold_linear_norm(self.shortcut)


def mlp(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_channels, out_channels, bias=False), nn.BatchNorm1d(out_channels),
                         nn.ReLU(inplace=True))


def fold_linear_norm(layers: nn.Sequential) -> None:
    """Fold the batch norm at layers[1] into the linear layer at layers[0] (an `mlp` or a shortcut)."""
    layers[1] = fold_batch_norm(layers[0], layers[1])


class SparseUNet(nn.Module):
    """U-Net over occupied voxels; voxel features are devoxelised to the points, joined with the point branch
    and classified per point: forward(batch) -> (N, num_classes) logits."""

    def __init__(self, config: SparseUNetConfig):
        super().__init__()
        if spconv is None:
            raise ImportError('SparseUNet needs spconv (pip install spconv for CPU, spconv-cu12x for CUDA)')
        self.config = config
        channels = config.channels
        self.input_norm = nn.BatchNorm1d(config.in_channels)
        self.stem = nn.Sequential(
            ConvNormReLU(spconv.SubMConv3d(config.in_channels, channels[0], 3, bias=False, indice_key='subm0')),
            ResidualBlock(channels[0], channels[0], 'subm0'))
        self.down = nn.ModuleList(
            ConvNormReLU(spconv.SparseConv3d(channels[s - 1], channels[s], 2, stride=2, bias=False,
                                             indice_key=f'down{s}')) for s in range(1, len(channels)))
        self.encoder = nn.ModuleList(ResidualBlock(channels[s], channels[s], f'subm{s}')
                                     for s in range(1, len(channels)))
        self.up = nn.ModuleList(
            ConvNormReLU(spconv.SparseInverseConv3d(channels[s], channels[s - 1], 2, bias=False,
                                                    indice_key=f'down{s}')) for s in range(1, len(channels)))
        self.decoder = nn.ModuleList(ResidualBlock(2 * channels[s - 1], channels[s - 1], f'subm{s - 1}')
                                     for s in range(1, len(channels)))
        head_channels = channels[0] + config.point_channels
        if config.point_channels:
            self.point_branch = nn.Sequential(nn.BatchNorm1d(2 * config.in_channels),
                                              mlp(2 * config.in_channels, config.point_channels),
                                              mlp(config.point_channels, config.point_channels))
        self.head = nn.Sequential(mlp(head_channels, head_channels), nn.Linear(head_channels, config.num_classes))
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, spconv.SubMConv3d, spconv.SparseConv3d, spconv.SparseInverseConv3d)):
            nn.init.kaiming_normal_(module.weight, nonlinearity='relu')  # weights (out, [k, k, k,] in): fan_in
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm1d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @staticmethod
    def select_input_features(state_dict: dict, keep: list[int], in_channels: int) -> dict:
        """A state dict of this network reading only input features `keep` (indices into the `in_channels` it was
        trained with): the input-feature axes of the input norm, the stem convolution and the point branch
        (which reads [feat, feat - voxel mean], 2F wide) are sliced. For fine-tuning without a feature."""
        doubled = keep + [in_channels + i for i in keep]
        sliced = dict(state_dict)
        for name, value in state_dict.items():
            if name.startswith('input_norm.') and value.ndim == 1:
                sliced[name] = value[keep]
            elif name == 'stem.0.conv.weight':  # (out, k, k, k, in)
                sliced[name] = value[..., keep]
            elif name.startswith('point_branch.0.') and value.ndim == 1:
                sliced[name] = value[doubled]
            elif name == 'point_branch.1.0.weight':  # (point_channels, 2F)
                sliced[name] = value[:, doubled]
        return sliced

    @staticmethod
    def slimmed_state_dict(state_dict: dict, channels: tuple[int, ...], slimmed: tuple[int, ...]) -> dict:
        """A state dict of this network with `slimmed` stage widths instead of its trained `channels`: each narrowed
        channel space keeps the channels whose batch norms scale them most (network slimming, Liu et al. 2017), as
        a start for fine-tuning a faster network. Stage 0 (which feeds the head) keeps its width."""
        if len(slimmed) != len(channels) or slimmed[0] != channels[0] or any(
                not 0 < new <= old for new, old in zip(slimmed, channels)):
            raise ValueError(f'cannot slim stages {tuple(channels)} to {tuple(slimmed)}: give as many stages, each '
                             f'no wider than before, and the first unchanged')
        sliced = dict(state_dict)

        def strongest(count: int, *norms: str) -> torch.Tensor:
            score = sum(state_dict[f'{norm}.weight'].abs() for norm in norms)
            return score.topk(count).indices.sort().values

        def take(name: str, out: torch.Tensor | None, inputs: torch.Tensor | None = None) -> None:
            value = sliced[name]
            if out is not None:
                value = value.index_select(0, out)
            if inputs is not None:  # weights are (out, [k, k, k,] in)
                value = value.index_select(value.ndim - 1, inputs)
            sliced[name] = value

        def take_norm(prefix: str, index: torch.Tensor) -> None:
            for field in ('weight', 'bias', 'running_mean', 'running_var'):
                take(f'{prefix}.{field}', index)

        def take_block(prefix: str, out: torch.Tensor, inputs: torch.Tensor, mid: torch.Tensor) -> None:
            take(f'{prefix}.conv1.conv.weight', mid, inputs)
            take_norm(f'{prefix}.conv1.norm', mid)
            take(f'{prefix}.conv2.weight', out, mid)
            take_norm(f'{prefix}.norm2', out)
            if f'{prefix}.shortcut.0.weight' in sliced:
                take(f'{prefix}.shortcut.0.weight', out, inputs)
                take_norm(f'{prefix}.shortcut.1', out)

        last = len(channels) - 1
        stream = [torch.arange(channels[0])]  # the encoder's channels per stage
        for s in range(1, last + 1):
            stream.append(strongest(slimmed[s], f'down.{s - 1}.norm', f'encoder.{s - 1}.norm2'))
            take(f'down.{s - 1}.conv.weight', stream[s], stream[s - 1])
            take_norm(f'down.{s - 1}.norm', stream[s])
            take_block(f'encoder.{s - 1}', stream[s], stream[s], strongest(slimmed[s], f'encoder.{s - 1}.conv1.norm'))
        decoded = stream[last]  # the channels the up convolution into stage s reads
        for s in range(last - 1, -1, -1):
            up = strongest(slimmed[s], f'up.{s}.norm')
            take(f'up.{s}.conv.weight', up, decoded)
            take_norm(f'up.{s}.norm', up)
            out = strongest(slimmed[s], f'decoder.{s}.norm2', f'decoder.{s}.shortcut.1')
            take_block(f'decoder.{s}', out, torch.cat([up, channels[s] + stream[s]]),
                       strongest(slimmed[s], f'decoder.{s}.conv1.norm'))
            decoded = out
        return sliced

    def fold_batch_norms(self) -> 'SparseUNet':
        """For inference only (eval mode): every batch norm that follows a convolution or linear layer folded into
        it; same outputs, ~5% less CPU time. The folded network is not a trainable or saveable one."""
        for block in (*self.stem, *self.down, *self.encoder, *self.up, *self.decoder):
            block.fold_batch_norm()
        if self.config.point_channels:
            for layers in self.point_branch[1:]:
                fold_linear_norm(layers)
        fold_linear_norm(self.head[0])
        return self

    def forward(self, batch: PointBatch) -> torch.Tensor:
        grid_coord = batch.grid_coord
        # Strided convolutions drop the last row of an odd extent: round the extent up to a multiple of the stride.
        stride = 2 ** (len(self.config.channels) - 1)
        spatial_shape = ((grid_coord[:, 1:].amax(dim=0) // stride + 1) * stride).tolist()
        x = spconv.SparseConvTensor(self.input_norm(batch.voxel_feat), grid_coord, spatial_shape, batch.batch_size)
        x = self.stem(x)
        skips = []
        for down, block in zip(self.down, self.encoder):
            skips.append(x)
            x = block(down(x))
        for up, block, skip in zip(reversed(self.up), reversed(self.decoder), reversed(skips)):
            x = up(x)  # the inverse convolution restores exactly the skip's voxels, in the same order
            x = block(x.replace_feature(torch.cat([x.features, skip.features], dim=1)))
        point_features = x.features[batch.point_to_voxel]  # (V, C0) -> (N, C0)
        if self.config.point_channels:
            local = torch.cat([batch.feat, batch.feat - batch.voxel_feat[batch.point_to_voxel]], dim=1)  # (N, 2F)
            point_features = torch.cat([point_features, self.point_branch(local)], dim=1)
        return self.head(point_features)
