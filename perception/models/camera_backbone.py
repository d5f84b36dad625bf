"""ResNet-18-style backbone at reduced width: the camera's feature network, run on key frames only.

It returns the feature pyramid {'res2': stride 4, 'res3': 8, 'res4': 16, 'res5': 32} that both heads (semantic
and panoptic) consume and that flow-guided propagation warps on the frames in between.
"""
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

LEVELS = ('res2', 'res3', 'res4', 'res5')


@dataclass(frozen=True)
class BackboneConfig:
    widths: tuple[int, int, int, int] = (32, 64, 128, 256)
    blocks: tuple[int, int, int, int] = (2, 2, 2, 2)


class BasicBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride, bias=False),
                                          nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + self.shortcut(x), inplace=True)


class ResNetBackbone(nn.Module):
    def __init__(self, config: BackboneConfig = BackboneConfig()):
        super().__init__()
        self.config = config
        first = config.widths[0]
        self.stem = nn.Sequential(  # two stride-2 3x3 convs instead of 7x7 + max-pool: cheaper, same stride 4
            nn.Conv2d(3, first, 3, 2, 1, bias=False), nn.BatchNorm2d(first), nn.ReLU(inplace=True),
            nn.Conv2d(first, first, 3, 2, 1, bias=False), nn.BatchNorm2d(first), nn.ReLU(inplace=True))
        stages, in_channels = [], first
        for i, (width, blocks) in enumerate(zip(config.widths, config.blocks)):
            layers = [BasicBlock(in_channels, width, 1 if i == 0 else 2)]
            layers += [BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            stages.append(nn.Sequential(*layers))
            in_channels = width
        self.stages = nn.ModuleList(stages)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

    @property
    def channels(self) -> dict[str, int]:
        return dict(zip(LEVELS, self.config.widths))

    def shallow(self, image: torch.Tensor) -> torch.Tensor:
        """The stem and first stage only: image (B, 3, H, W) normalised -> 'res2' (B, C2, H/4, W/4)."""
        return self.stages[0](self.stem(image))

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """image (B, 3, H, W) normalised, H and W multiples of 32 -> {'res2': (B, C2, H/4, W/4), ...}."""
        x = self.shallow(image)
        pyramid = {LEVELS[0]: x}
        for level, stage in zip(LEVELS[1:], self.stages[1:]):
            x = stage(x)
            pyramid[level] = x
        return pyramid
