"""Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021) in pure torch.

No compiled op is needed: the sampling is plain torch (F.embedding_bag; F.grid_sample when exported to ONNX), so
the same code runs on CPU and CUDA. Images in a batch share one size, so there is no padding mask.
"""
import math

import torch
import torch.nn.functional as F
from torch import nn


def ms_deform_attn_core(value: torch.Tensor, spatial_shapes: list[tuple[int, int]],
                        sampling_locations: torch.Tensor, attention_weights: torch.Tensor) -> torch.Tensor:
    """Weighted sum of bilinear samples of each level's value map.

    value:              (B, S, M, D) the levels' flattened maps, S = sum of H_l * W_l, M heads of D channels
    spatial_shapes:     [(H_l, W_l)] per level, in the order the levels are concatenated in `value`
    sampling_locations: (B, Lq, M, L, P, 2) (x, y) in [0, 1] of each level's map (0 and 1 are its outer edges)
    attention_weights:  (B, Lq, M, L, P)
    returns:            (B, Lq, M * D)
    Samples outside the map read zeros. Two formulations of the same sum: an ONNX export traces the grid_sample one
    (ONNX GridSample), everything else runs the embedding_bag one (3.5x faster on a CPU: it reads each sample's D
    channels as one contiguous row, and weights and sums all samples of a query in one call).
    """
    if torch.onnx.is_in_onnx_export():
        return _grid_sample_core(value, spatial_shapes, sampling_locations, attention_weights)
    return _embedding_bag_core(value, spatial_shapes, sampling_locations, attention_weights)


def _embedding_bag_core(value, spatial_shapes, sampling_locations, attention_weights) -> torch.Tensor:
    """Bilinear interpolation (align_corners=False, zeros outside) written out: each sample's 4 neighbouring
    pixels are rows of the (B*M*S, D) value table, weighted by bilinear weight x attention weight (0 for a
    neighbour outside the map) and summed per query and head by F.embedding_bag."""
    batch, size, heads, head_dim = value.shape
    _, num_queries, _, levels, points, _ = sampling_locations.shape
    shapes = torch.tensor(spatial_shapes, device=value.device)
    heights, widths = shapes[:, :1], shapes[:, 1:]  # (L, 1): broadcast over the points
    starts = torch.cumsum(heights * widths, 0) - heights * widths  # each level's first row in `value`
    locations = sampling_locations.permute(0, 2, 1, 3, 4, 5)  # (B, M, Lq, L, P, 2)
    x = locations[..., 0] * widths - 0.5  # pixel coordinates: pixel centres at integers
    y = locations[..., 1] * heights - 0.5
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    x1, y1 = x0 + 1, y0 + 1
    wx0, wx1 = (1 - fx) * ((x0 >= 0) & (x0 < widths)), fx * ((x1 >= 0) & (x1 < widths))
    attention = attention_weights.permute(0, 2, 1, 3, 4)  # (B, M, Lq, L, P)
    wy0 = (1 - fy) * ((y0 >= 0) & (y0 < heights)) * attention
    wy1 = fy * ((y1 >= 0) & (y1 < heights)) * attention
    weights = torch.stack([wx0 * wy0, wx1 * wy0, wx0 * wy1, wx1 * wy1], -1)  # (B, M, Lq, L, P, 4)
    first_row = starts + (torch.arange(batch * heads, device=value.device) * size).view(batch, heads, 1, 1, 1)
    x0, x1 = x0.clamp(min=0).minimum(widths - 1), x1.clamp(min=0).minimum(widths - 1)
    row0 = first_row + y0.clamp(min=0).minimum(heights - 1) * widths
    row1 = first_row + y1.clamp(min=0).minimum(heights - 1) * widths
    rows = torch.stack([row0 + x0, row0 + x1, row1 + x0, row1 + x1], -1)
    table = value.permute(0, 2, 1, 3).reshape(batch * heads * size, head_dim)
    samples = levels * points * 4
    output = F.embedding_bag(rows.view(-1, samples), table, mode='sum',
                             per_sample_weights=weights.view(-1, samples).to(table.dtype))  # (B*M*Lq, D)
    return output.view(batch, heads, num_queries, head_dim).transpose(1, 2).reshape(batch, num_queries, -1)


def _grid_sample_core(value, spatial_shapes, sampling_locations, attention_weights) -> torch.Tensor:
    """The `ms_deform_attn_core_pytorch` formulation: F.grid_sample per level."""
    batch, _, heads, head_dim = value.shape
    _, num_queries, _, levels, points, _ = sampling_locations.shape
    value_per_level = value.split([h * w for h, w in spatial_shapes], dim=1)
    sampling_grids = 2 * sampling_locations - 1  # grid_sample's [-1, 1], align_corners=False
    # (B, Lq, M, L, P) -> (B, M, Lq, L, P) -> (B*M, 1, Lq, L, P)
    attention_weights = attention_weights.transpose(1, 2).reshape(batch * heads, 1, num_queries, levels, points)
    output = 0
    for level, (height, width) in enumerate(spatial_shapes):  # summed level by level: no (.., L, P) stack
        # (B, H*W, M, D) -> (B, M, D, H*W) -> (B*M, D, H, W)
        value_map = value_per_level[level].permute(0, 2, 3, 1).reshape(batch * heads, head_dim, height, width)
        # (B, Lq, M, P, 2) -> (B, M, Lq, P, 2) -> (B*M, Lq, P, 2)
        grid = sampling_grids[:, :, :, level].transpose(1, 2).flatten(0, 1)
        # (B*M, D, Lq, P) * (B*M, 1, Lq, P) -> (B*M, D, Lq)
        sampled = F.grid_sample(value_map, grid, mode='bilinear', padding_mode='zeros', align_corners=False)
        output = output + (sampled * attention_weights[:, :, :, level]).sum(-1)
    output = output.view(batch, heads * head_dim, num_queries)  # (B*M, D, Lq) -> (B, M*D, Lq)
    return output.transpose(1, 2).contiguous()  # (B, Lq, M*D)


def _at_least_float32(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to(torch.promote_types(tensor.dtype, torch.float32))


class MSDeformAttn(nn.Module):
    """Each query attends to `points` learned offsets around its reference point on every level, per head."""

    def __init__(self, dim: int, levels: int, heads: int, points: int):
        super().__init__()
        if dim % heads:
            raise ValueError(f'dim {dim} is not divisible by heads {heads}')
        self.dim, self.levels, self.heads, self.points = dim, levels, heads, points
        self.sampling_offsets = nn.Linear(dim, heads * levels * points * 2)
        self.attention_weights = nn.Linear(dim, heads * levels * points)
        self.value_proj = nn.Linear(dim, dim)
        self.output_proj = nn.Linear(dim, dim)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Deformable DETR's init: offsets start on a ring (head h looks in direction 2*pi*h/heads, point p at
        distance p+1 pixels), attention starts uniform over all levels and points."""
        nn.init.zeros_(self.sampling_offsets.weight)
        angles = torch.arange(self.heads, dtype=torch.float32) * (2.0 * math.pi / self.heads)
        directions = torch.stack([angles.cos(), angles.sin()], -1)  # (M, 2)
        directions = directions / directions.abs().max(-1, keepdim=True).values  # onto the unit square
        distances = torch.arange(1, self.points + 1, dtype=torch.float32)
        # (M, 1, 1, 2) * (1, 1, P, 1) -> (M, L, P, 2)
        ring = (directions[:, None, None, :] * distances[None, None, :, None]).expand(-1, self.levels, -1, -1)
        with torch.no_grad():
            self.sampling_offsets.bias.copy_(ring.reshape(-1))
        nn.init.zeros_(self.attention_weights.weight)
        nn.init.zeros_(self.attention_weights.bias)
        for projection in (self.value_proj, self.output_proj):
            nn.init.xavier_uniform_(projection.weight)
            nn.init.zeros_(projection.bias)

    def forward(self, query: torch.Tensor, reference_points: torch.Tensor, value: torch.Tensor,
                spatial_shapes: list[tuple[int, int]]) -> torch.Tensor:
        """query (B, Lq, C); reference_points (B, Lq, L, 2) (x, y) in [0, 1] per level; value (B, S, C), the
        levels' maps flattened and concatenated in the order of `spatial_shapes` [(H_l, W_l)]. Returns (B, Lq, C).
        Offsets are in pixels of each level (normalised by its W_l, H_l)."""
        batch, num_queries, _ = query.shape
        value = self.value_proj(value).view(batch, value.shape[1], self.heads, self.dim // self.heads)  # (B, S, M, D)
        offsets = self.sampling_offsets(query).view(batch, num_queries, self.heads, self.levels, self.points, 2)
        weights = self.attention_weights(query).view(batch, num_queries, self.heads, self.levels * self.points)
        weights = weights.softmax(-1).view(batch, num_queries, self.heads, self.levels, self.points)
        level_sizes = torch.tensor([(w, h) for h, w in spatial_shapes], device=query.device)
        # (B, Lq, 1, L, 1, 2) + (B, Lq, M, L, P, 2) / (L, 1, 2), at least float32 even under bf16 autocast: bf16
        # cannot hold a sub-pixel position on a map more than 128 pixels wide
        locations = (_at_least_float32(reference_points)[:, :, None, :, None, :]
                     + _at_least_float32(offsets) / level_sizes[:, None, :])
        return self.output_proj(ms_deform_attn_core(value, spatial_shapes, locations, weights))
