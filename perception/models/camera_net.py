"""The camera network: feature network (backbone, key frames) + heads (every frame), and its weights file.

Split point: the backbone's feature pyramid. Both heads read it, so one warp serves semantic and panoptic output;
the backbone holds ~90% of the compute, so propagated frames are cheap; and warping backbone features rather than
the decoder's output lets the head re-mix scales and smooth small warping errors (Deep Feature Flow's finding).
"""
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from perception.models.camera_backbone import BackboneConfig, ResNetBackbone
from perception.models.correction import CorrectionBranch, CorrectionConfig
from perception.models.mask2former import Mask2FormerConfig, Mask2FormerHead
from perception.models.semantic_head import SemanticFPNHead
from perception.models.serialization import compact_state_dict


@dataclass(frozen=True)
class CameraNetConfig:
    num_classes: int
    backbone: BackboneConfig = field(default_factory=BackboneConfig)
    head_dim: int = 64
    panoptic: Mask2FormerConfig | None = None
    correction: CorrectionConfig | None = None  # Accel-style correction of propagated features (models.correction)
    mean: tuple[float, float, float] = (0.45, 0.45, 0.45)  # of rgb in [0, 1]
    std: tuple[float, float, float] = (0.25, 0.25, 0.25)

    @classmethod
    def from_dict(cls, d: dict) -> 'CameraNetConfig':
        backbone = BackboneConfig(**{k: tuple(v) for k, v in d['backbone'].items()})
        panoptic = d.get('panoptic')
        if panoptic:
            panoptic = Mask2FormerConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in panoptic.items()})
        correction = CorrectionConfig(**d['correction']) if d.get('correction') else None
        return cls(d['num_classes'], backbone, d['head_dim'], panoptic or None, correction, tuple(d['mean']),
                   tuple(d['std']))


class CameraNet(nn.Module):
    def __init__(self, config: CameraNetConfig):
        super().__init__()
        self.config = config
        self.backbone = ResNetBackbone(config.backbone)
        self.semantic_head = SemanticFPNHead(self.backbone.channels, config.num_classes, config.head_dim)
        self.panoptic_head = Mask2FormerHead(config.panoptic) if config.panoptic else None
        self.correction = CorrectionBranch(self.backbone.channels, config.correction) if config.correction else None
        self.register_buffer('mean', torch.tensor(config.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', torch.tensor(config.std).view(1, 3, 1, 1), persistent=False)

    def with_parts(self, **parts) -> 'CameraNet':
        """This network with parts added or replaced (panoptic=Mask2FormerConfig, correction=CorrectionConfig):
        the new parts start fresh, everything else is kept."""
        net = CameraNet(CameraNetConfig(**{**self.config.__dict__, **parts}))
        net.load_state_dict(self.state_dict(), strict=False)
        return net

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """The key-frame work: rgb (B, 3, H, W) in [0, 1], H and W multiples of 32 -> feature pyramid."""
        return self.backbone((image - self.mean) / self.std)

    def corrected(self, image: torch.Tensor, warped: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """A propagated frame's pyramid: the key frame's levels 'res3'..'res5' warped to this frame (rgb (B, 3, H,
        W) in [0, 1]), corrected by this frame's own shallow features."""
        if self.correction is None:
            raise RuntimeError('this camera network has no correction branch')
        return self.correction(self.backbone.shallow((image - self.mean) / self.std), warped)

    def semantic(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        """Semantic logits (B, K, H/4, W/4)."""
        return self.semantic_head(pyramid)

    def panoptic(self, pyramid: dict[str, torch.Tensor]) -> dict:
        """Mask2Former outputs ('pred_logits', 'pred_masks' at stride 4, 'aux_outputs')."""
        if self.panoptic_head is None:
            raise RuntimeError('this camera network has no panoptic head')
        return self.panoptic_head(pyramid)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.semantic(self.features(image))


def save_camera_net(path: Path, net: CameraNet, meta: dict | None = None) -> None:
    """Weights plus the configuration that rebuilds the network, plus provenance (`meta`)."""
    torch.save({'config': asdict(net.config), 'state_dict': compact_state_dict(net), 'meta': meta or {}}, path)


def load_camera_net(path: Path, device: str | torch.device = 'cpu') -> tuple[CameraNet, dict]:
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    net = CameraNet(CameraNetConfig.from_dict(checkpoint['config']))
    net.load_state_dict(checkpoint['state_dict'])
    return net.to(device).eval(), checkpoint.get('meta', {})
