"""An mmsegmentation (model zoo) encoder-decoder as the camera network, optional (`make setup-mmseg`).

The model's backbone (+ neck) is the feature network run on key frames and its decode head runs on every frame,
so flow-guided propagation works as with our own network. Its classes are mapped into the taxonomy: Cityscapes
trainIds for 19-class models (the model zoo's Cityscapes checkpoints), our own ids for models trained with them.
"""
from pathlib import Path

import torch
from torch import nn

from perception.taxonomy import load_taxonomy

ABSENT_CLASS_LOGIT = -1e4


class MMSegNet(nn.Module):
    def __init__(self, config: Path, checkpoint: Path | None, device: torch.device):
        super().__init__()
        try:
            from mmseg.apis import init_model
        except ImportError as error:
            raise ValueError('the mmseg camera backend needs mmsegmentation: run `make setup-mmseg`') from error
        self.model = init_model(str(config), str(checkpoint) if checkpoint else None, device=str(device)).eval()
        taxonomy = load_taxonomy()
        classes = self.model.decode_head.num_classes
        if classes == 19:
            lookup = taxonomy.from_cityscapes_train_ids[:19]
        elif classes == taxonomy.num_classes:
            lookup = range(classes)
        else:
            raise ValueError(f'{config}: a decode head with {classes} classes maps to neither Cityscapes trainIds (19)'
                             f' nor the taxonomy ({taxonomy.num_classes})')
        self.register_buffer('to_taxonomy', torch.as_tensor(list(lookup), dtype=torch.long), persistent=False)
        self.num_classes = taxonomy.num_classes
        self.panoptic_head = self.correction = None  # CameraNet's optional parts, absent here
        preprocessor = self.model.data_preprocessor
        self.register_buffer('mean', preprocessor.mean.view(1, 3, 1, 1), persistent=False)
        self.register_buffer('std', preprocessor.std.view(1, 3, 1, 1), persistent=False)
        # channel_conversion: the model takes BGR-loaded images and converts them, i.e. it wants RGB, as we give it
        self.wants_bgr = not preprocessor.channel_conversion

    def features(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        """rgb (B, 3, H, W) in [0, 1] -> the backbone's (+ neck's) levels."""
        x = image.flip(1) if self.wants_bgr else image
        levels = self.model.extract_feat((x * 255.0 - self.mean) / self.std)
        return {f'level{i}': level for i, level in enumerate(levels)}

    def semantic(self, pyramid: dict[str, torch.Tensor]) -> torch.Tensor:
        """Logits over the taxonomy (B, K, h, w); classes the model lacks get a very low logit (finite, so that
        bilinear upsampling stays free of NaNs)."""
        logits = self.model.decode_head.forward(list(pyramid.values()))
        out = logits.new_full((logits.shape[0], self.num_classes, *logits.shape[2:]), ABSENT_CLASS_LOGIT)
        valid = self.to_taxonomy < self.num_classes  # Cityscapes trainIds without a class here are dropped
        return out.index_copy(1, self.to_taxonomy[valid], logits[:, valid])
