"""Accel-style correction of propagated features (Jain et al., "Accel", CVPR 2019): on a propagated frame the key
frame's pyramid, warped along the optical flow, is wrong wherever the flow is (moving objects, disocclusions,
thin structures). The correction branch looks at the current frame itself, cheaply: the backbone's stem and first
stage (stride 4, about a third of the backbone) run on it, and their output

- replaces the warped stride-4 level outright (it is the current frame's own), and
- is carried down to strides 8, 16 and 32 by a few strided convolutions and fused with each warped level:
  corrected = warped + gate * update, with gate and update computed from [warped, current]. The last layers start
  at zero, so an untrained branch returns the warped pyramid unchanged.

Only the branch is trained (perception-train propagation), with the backbone and heads frozen, so that one
branch serves the semantic and the panoptic head alike.
"""
from dataclasses import dataclass

import torch
from torch import nn

from perception.models.camera_backbone import LEVELS

CORRECTED_LEVELS = LEVELS[1:]  # warped, then corrected; the stride-4 level is computed on the frame itself


@dataclass(frozen=True)
class CorrectionConfig:
    channels: int = 32  # width of the branch's own layers


def conv_bn_relu(in_channels: int, out_channels: int, kernel: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(in_channels, out_channels, kernel, stride, kernel // 2, bias=False),
                         nn.BatchNorm2d(out_channels), nn.ReLU(inplace=True))


class LevelFusion(nn.Module):
    """warped (B, C, h, w) + current-frame features (B, D, h, w) -> warped + gate * update."""

    def __init__(self, channels: int, current_channels: int, width: int):
        super().__init__()
        self.mix = conv_bn_relu(channels + current_channels, width)
        self.update = nn.Conv2d(width, channels, 1)
        self.gate = nn.Conv2d(width, channels, 1)
        for layer in (self.update, self.gate):  # start as the identity: gate 0.5 * update 0
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)

    def forward(self, warped: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        mixed = self.mix(torch.cat([warped, current], dim=1))
        return warped + torch.sigmoid(self.gate(mixed)) * self.update(mixed)


class CorrectionBranch(nn.Module):
    def __init__(self, level_channels: dict[str, int], config: CorrectionConfig = CorrectionConfig()):
        super().__init__()
        self.config = config
        width = config.channels
        self.down = nn.ModuleList(conv_bn_relu(level_channels[LEVELS[0]] if i == 0 else width, width, stride=2)
                                  for i in range(len(CORRECTED_LEVELS)))
        self.fuse = nn.ModuleDict({level: LevelFusion(level_channels[level], width, width)
                                   for level in CORRECTED_LEVELS})

    def forward(self, current_shallow: torch.Tensor, warped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """current_shallow: the current frame's stride-4 features (backbone stem + first stage); warped: the key
        frame's levels 'res3'..'res5' warped to the current frame -> the corrected pyramid 'res2'..'res5'."""
        corrected, x = {LEVELS[0]: current_shallow}, current_shallow
        for down, level in zip(self.down, CORRECTED_LEVELS):
            x = down(x)
            corrected[level] = self.fuse[level](warped[level], x)
        return corrected
