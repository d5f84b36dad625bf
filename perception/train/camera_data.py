"""Camera training data: frames of a Cityscapes-layout folder (our simulator's export or real Cityscapes) with
flip, scale/crop and colour augmentation applied to image, semantic and instance maps alike."""
import os

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from perception.io.cityscapes import list_frames, read_frame

os.environ.setdefault('NO_ALBUMENTATIONS_UPDATE', '1')  # albumentations would otherwise look for updates online
import albumentations as A  # noqa: E402


def training_augmentation(crop_height: int, crop_width: int, ignore_id: int = 255, *, max_scale: float = 1.5,
                          thing_crops: float = 0.0, stuff_ids: tuple[int, ...] = ()) -> A.Compose:
    """Flip, scale x0.75..max_scale, crop, colour and noise. With thing_crops > 0, that share of the crops is centred
    on a pixel of a thing class (any class not in stuff_ids), so that a panoptic head sees more instances."""
    crop = A.RandomCrop(crop_height, crop_width)
    if thing_crops > 0:
        crop = A.OneOf([A.CropNonEmptyMaskIfExists(crop_height, crop_width, ignore_values=[*stuff_ids, ignore_id],
                                                   p=thing_crops),
                        A.RandomCrop(crop_height, crop_width, p=1.0 - thing_crops)], p=1.0)
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.RandomScale(scale_limit=(-0.25, max_scale - 1.0), interpolation=cv2.INTER_LINEAR, p=1.0),
        A.PadIfNeeded(crop_height, crop_width, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=ignore_id),
        crop,
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8),
        A.GaussNoise(std_range=(0.0, 0.03), p=0.3),
    ], additional_targets={'instance': 'mask'})


class CameraFrames(Dataset):
    """(image (3, H, W) float in [0, 1], semantic (H, W) int64 taxonomy ids, instance (H, W) int64) per frame."""

    def __init__(self, root, split: str, augmentation: A.Compose | None = None):
        self.frames = list_frames(root, split)
        if not self.frames:
            raise ValueError(f'{root}: no frames in split {split!r}')
        self.augmentation = augmentation

    @property
    def sequences(self) -> list[str]:
        return sorted({frame.image.parent.name for frame in self.frames})

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> dict:
        rgb, semantic, instance = read_frame(self.frames[index])
        if self.augmentation is not None:
            out = self.augmentation(image=rgb, mask=semantic, instance=instance.astype(np.int32))
            rgb, semantic, instance = out['image'], out['mask'], out['instance']
        return {'image': torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
                'semantic': torch.from_numpy(np.ascontiguousarray(semantic)).long(),
                'instance': torch.from_numpy(np.ascontiguousarray(instance)).long()}


def label_counts(dataset: CameraFrames, num_classes: int, samples: int = 200) -> np.ndarray:
    """Per-class pixel counts over an even sample of the (unaugmented) frames."""
    counts = np.zeros(num_classes, np.int64)
    for index in np.linspace(0, len(dataset) - 1, min(samples, len(dataset))).astype(int):
        _, semantic, _ = read_frame(dataset.frames[index])
        counts += np.bincount(semantic.ravel(), minlength=256)[:num_classes]
    return counts
