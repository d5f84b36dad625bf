"""Multi-scale deformable attention (Deformable DETR, Zhu et al. 2021) in pure torch.

The sampling runs through `F.grid_sample` (the `ms_deform_attn_core_pytorch` formulation), so no compiled op is
needed and the same code runs on CPU and CUDA. Images in a batch share one size, so there is no padding mask.
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
    Samples outside the map read zeros.
    """
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
        level_sizes = torch.tensor([(w, h) for h, w in spatial_shapes], dtype=query.dtype, device=query.device)
        # (B, Lq, 1, L, 1, 2) + (B, Lq, M, L, P, 2) / (L, 1, 2)
        locations = reference_points[:, :, None, :, None, :] + offsets / level_sizes[:, None, :]
        return self.output_proj(ms_deform_attn_core(value, spatial_shapes, locations, weights))
