"""Light FPN decoder for semantic segmentation: the head that runs on every frame, key or propagated.

Coarse levels (strides 8-32) are fused at stride 8, refined by a depthwise-separable 3x3 conv, upsampled and
fused with stride 4, refined again, then classified. About a tenth of the backbone's cost, so that propagated
frames are cheap.
"""
import torch
import torch.nn.functional as F
from torch import nn


def separable(channels: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False),
                         nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True))


class SemanticFPNHead(nn.Module):
    def __init__(self, in_channels: dict[str, int], num_classes: int, dim: int = 64):
        super().__init__()
        self.lateral = nn.ModuleDict({level: nn.Sequential(nn.Conv2d(c, dim, 1, bias=False), nn.BatchNorm2d(dim))
                                      for level, c in in_channels.items()})
        self.refine8 = separable(dim)
        self.refine4 = separable(dim)
        self.classifier = nn.Conv2d(dim, num_classes, 1)
        self.apply(self._init_weights)

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
            if module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        """pyramid 'res2'..'res5' -> class logits (B, K, H/4, W/4)."""
        size8 = pyramid['res3'].shape[-2:]
        x = self.lateral['res3'](pyramid['res3'])
        for level in ('res4', 'res5'):
            x = x + F.interpolate(self.lateral[level](pyramid[level]), size=size8, mode='bilinear', align_corners=False)
        x = self.refine8(x)
        x = F.interpolate(x, size=pyramid['res2'].shape[-2:], mode='bilinear', align_corners=False)
        x = self.refine4(x + self.lateral['res2'](pyramid['res2']))
        return self.classifier(x)
