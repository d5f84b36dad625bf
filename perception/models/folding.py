"""Batch norm folding for inference: a layer followed by an eval-mode batch norm becomes one scaled layer."""
import torch
from torch import nn


class ChannelBias(nn.Module):
    """Adds a per-channel bias to (M, C) features: what remains of a folded batch norm after a layer that cannot
    carry a bias itself (spconv's CPU convolutions)."""

    def __init__(self, bias: torch.Tensor):
        super().__init__()
        self.register_buffer('bias', bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias


@torch.no_grad()
def fold_batch_norm(layer: nn.Module, norm: nn.BatchNorm1d) -> nn.Module:
    """Fold `norm` (its running statistics) into `layer`, whose weight has the output channels first (nn.Linear
    (out, in); spconv convolutions (out, k, k, k, in)). Returns what replaces `norm`: the identity when the layer
    is an nn.Linear (it takes the bias), else a ChannelBias."""
    scale = norm.weight / torch.sqrt(norm.running_var + norm.eps)
    layer.weight.mul_(scale.view(-1, *([1] * (layer.weight.dim() - 1))))
    bias = (norm.bias - norm.running_mean * scale).clone()
    if layer.bias is not None:
        bias += layer.bias * scale
    if isinstance(layer, nn.Linear):
        layer.bias = nn.Parameter(bias)
        return nn.Identity()
    return ChannelBias(bias)
