"""The CamVid dataset in SegNet's layout: 11 classes, images and class-index annotation PNGs listed per split.

    ROOT/train.txt, ROOT/val.txt, ROOT/test.txt   one 'IMAGE ANNOTATION' pair per line
    ROOT/test/0001TP_008550.jpg                   the image (PNG or JPEG)
    ROOT/testannot/0001TP_008550.png              uint8 CamVid class per pixel (0 Sky .. 10 Bicyclist, 11 Unlabelled)

SegNet's own lists hold absolute paths of the authors' machine (``/SegNet/CamVid/test/x.png``): a listed path that
does not exist under ROOT is looked up by its last two components (folder and file name). Class names, the ignore id
and the mapping to taxonomy classes are `load_taxonomy().camvid`.
"""
from pathlib import Path

import cv2
import numpy as np

SPLITS = ('train', 'val', 'test')


def _resolve(root: Path, listed: str) -> Path:
    path = root / listed.lstrip('/')
    if path.exists():
        return path
    return root / Path(listed).parent.name / Path(listed).name


def list_camvid(root, split: str) -> list[tuple[Path, Path]]:
    """(image, annotation) paths of a split in list order; a missing list or listed file is an error."""
    root = Path(root)
    listing = root / f'{split}.txt'
    if not listing.is_file():
        raise FileNotFoundError(f'{listing}: no such CamVid split list')
    pairs = []
    for number, line in enumerate(listing.read_text().splitlines(), 1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2:
            raise ValueError(f'{listing}:{number}: expected "IMAGE ANNOTATION", got {line.strip()!r}')
        pair = (_resolve(root, fields[0]), _resolve(root, fields[1]))
        for path in pair:
            if not path.is_file():
                raise FileNotFoundError(f'{listing}:{number}: {path} does not exist')
        pairs.append(pair)
    return pairs


def read_camvid(image_path, label_path) -> tuple[np.ndarray, np.ndarray]:
    """rgb (H, W, 3) uint8 and CamVid class ids (H, W) uint8; image and annotation must have the same size."""
    bgr = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'{image_path}: missing or not an image')
    label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
    if label is None or label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f'{label_path}: not a single-channel uint8 annotation PNG')
    if label.shape != bgr.shape[:2]:
        raise ValueError(f'{label_path}: annotation {label.shape} does not match image {bgr.shape[:2]}')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), label


def write_camvid_label(path, label: np.ndarray) -> None:
    """Write CamVid class ids (H, W) uint8 as an annotation PNG (the format of ``*annot/*.png`` and predictions)."""
    label = np.asarray(label)
    if label.ndim != 2 or label.dtype != np.uint8:
        raise ValueError(f'CamVid labels must be (H, W) uint8, got {label.dtype} {label.shape}')
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), label):
        raise OSError(f'{path}: could not write the annotation PNG')
