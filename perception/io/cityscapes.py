"""The Cityscapes layout: leftImg8bit/SPLIT/CITY/*_leftImg8bit.png with gtFine/SPLIT/CITY/*_gtFine_labelIds.png,
*_gtFine_trainIds.png and *_gtFine_instanceIds.png, read into and written from taxonomy ids.

labelIds and instanceIds follow Cityscapes (instanceIds: labelId * 1000 + k for thing instances, the labelId for
everything else), so real Cityscapes folders read the same way; trainIds are Cityscapes trainIds (lossy for our
extra classes, written for compatibility only).
"""
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from perception.taxonomy import load_taxonomy


@dataclass(frozen=True)
class CityscapesFrame:
    image: Path
    label_ids: Path
    instance_ids: Path

    @property
    def name(self) -> str:
        return self.image.name[:-len('_leftImg8bit.png')]


def frame_paths(root, split: str, city: str, sequence: int, index: int) -> CityscapesFrame:
    root = Path(root)
    stem = f'{city}_{sequence:06d}_{index:06d}'
    gt = root / 'gtFine' / split / city
    return CityscapesFrame(root / 'leftImg8bit' / split / city / f'{stem}_leftImg8bit.png',
                           gt / f'{stem}_gtFine_labelIds.png', gt / f'{stem}_gtFine_instanceIds.png')


def list_frames(root, split: str) -> list[CityscapesFrame]:
    """All frames of a split in name order; a missing split folder is an error."""
    images = Path(root) / 'leftImg8bit' / split
    if not images.is_dir():
        raise FileNotFoundError(f'{images}: no such Cityscapes split folder')
    frames = []
    for image in sorted(images.glob('*/*_leftImg8bit.png')):
        stem = image.name[:-len('_leftImg8bit.png')]
        gt = Path(root) / 'gtFine' / split / image.parent.name
        frames.append(CityscapesFrame(image, gt / f'{stem}_gtFine_labelIds.png', gt / f'{stem}_gtFine_instanceIds.png'))
    return frames


def _read(path: Path, flags: int) -> np.ndarray:
    array = cv2.imread(str(path), flags)
    if array is None:
        raise FileNotFoundError(f'{path}: missing or not an image')
    return array


def read_frame(frame: CityscapesFrame):
    """rgb (H, W, 3) uint8, semantic (H, W) uint8 taxonomy ids, instance (H, W) int32 (0 for stuff and crowds)."""
    taxonomy = load_taxonomy()
    rgb = cv2.cvtColor(_read(frame.image, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    semantic = taxonomy.from_cityscapes_label_ids[_read(frame.label_ids, cv2.IMREAD_UNCHANGED)]
    instance_ids = _read(frame.instance_ids, cv2.IMREAD_UNCHANGED).astype(np.int32)
    instance = np.where(instance_ids >= 1000, instance_ids % 1000 + 1, 0)  # Cityscapes k starts at 0
    return rgb, semantic, instance


def write_frame(frame: CityscapesFrame, rgb: np.ndarray, semantic: np.ndarray, instance: np.ndarray) -> None:
    """Write one frame; thing instances (instance > 0 on thing classes) are numbered k = 0, 1, ... per frame."""
    taxonomy = load_taxonomy()
    label_ids = taxonomy.to_cityscapes_label_ids[semantic]
    things = taxonomy.is_thing[semantic] & (instance > 0)
    instance_ids = label_ids.astype(np.uint16)
    if things.any():
        _, k = np.unique(instance[things], return_inverse=True)
        instance_ids[things] = label_ids[things].astype(np.uint16) * 1000 + k.astype(np.uint16)
    for path in (frame.image, frame.label_ids):
        path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(frame.image), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))
    cv2.imwrite(str(frame.label_ids), label_ids)
    cv2.imwrite(str(frame.label_ids).replace('_labelIds', '_trainIds'), taxonomy.to_cityscapes_train_ids[semantic])
    cv2.imwrite(str(frame.instance_ids), instance_ids)
