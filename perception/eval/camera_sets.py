"""Camera datasets in their standard layouts, as lists of frames to load one at a time (see lidar_sets).

Ground truth comes as taxonomy labels (Cityscapes labelIds, with instanceIds for PQ), CamVid classes, or 2D boxes
(KITTI label format); predictions are written in the dataset's own format: Cityscapes labelIds PNGs (also for
plain image folders and box sets) or CamVid class PNGs.
"""
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from perception.eval.real_data import BoxRule
from perception.io import cityscapes, kitti_object
from perception.io.camvid import list_camvid, read_camvid
from perception.taxonomy import Taxonomy

CAMERA_DATASETS = ('cityscapes', 'camvid', 'images', 'nuscenes-boxes')
IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg')


@dataclass
class CameraFrame:
    name: str
    rgb: np.ndarray                     # (H, W, 3) uint8
    prediction: Path                    # where its label PNG goes, relative to the output folder
    prediction_format: str              # 'cityscapes' (labelIds) or 'camvid' (CamVid class ids)
    labels: np.ndarray | None = None    # (H, W) taxonomy ids, ignore where unlabelled
    instance: np.ndarray | None = None  # (H, W) instance ids (0 for stuff and crowds), for PQ
    camvid: np.ndarray | None = None    # (H, W) CamVid class ids
    in_box: np.ndarray | None = None    # (H, W) bool: pixels in a positive box
    other: np.ndarray | None = None     # (H, W) bool: pixels outside every box
    boxes: tuple = ()                   # ((left, top, right, bottom), positive) to draw


Loader = Callable[[], CameraFrame]


def read_rgb(path: Path) -> np.ndarray:
    bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if bgr is None:
        raise ValueError(f'{path}: missing or not an image')
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _check_size(path: Path, labels: np.ndarray, rgb: np.ndarray) -> None:
    if labels.shape != rgb.shape[:2]:
        raise ValueError(f'{path}: labels of {labels.shape} for an image of {rgb.shape[:2]}')


def cityscapes_frames(root: Path, split: str, taxonomy: Taxonomy) -> list[Loader]:
    """leftImg8bit/SPLIT/CITY/*_leftImg8bit.png with gtFine labelIds (and instanceIds for PQ) when present."""
    try:
        frames = cityscapes.list_frames(root, split)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    if not frames:
        raise ValueError(f'{root}/leftImg8bit/{split}: no *_leftImg8bit.png images')
    return [partial(_cityscapes_frame, frame, split, taxonomy) for frame in frames]


def _cityscapes_frame(frame: cityscapes.CityscapesFrame, split: str, taxonomy: Taxonomy) -> CameraFrame:
    prediction = Path('predictions', split, frame.image.parent.name, f'{frame.name}_labelIds.png')
    if frame.label_ids.exists() and frame.instance_ids.exists():
        rgb, labels, instance = cityscapes.read_frame(frame)
        for path, array in ((frame.label_ids, labels), (frame.instance_ids, instance)):
            _check_size(path, array, rgb)
        return CameraFrame(frame.name, rgb, prediction, 'cityscapes', labels=labels, instance=instance)
    rgb = read_rgb(frame.image)
    if not frame.label_ids.exists():
        return CameraFrame(frame.name, rgb, prediction, 'cityscapes')
    label_ids = cv2.imread(str(frame.label_ids), cv2.IMREAD_UNCHANGED)
    if label_ids is None or label_ids.ndim != 2:
        raise ValueError(f'{frame.label_ids}: not a single-channel label image')
    _check_size(frame.label_ids, label_ids, rgb)
    return CameraFrame(frame.name, rgb, prediction, 'cityscapes', labels=taxonomy.from_cityscapes_label_ids[label_ids])


def camvid_frames(root: Path, split: str) -> list[Loader]:
    """SegNet's CamVid layout: SPLIT.txt listing 'image annotation' pairs."""
    try:
        pairs = list_camvid(root, split)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    if not pairs:
        raise ValueError(f'{root}/{split}.txt lists no images')
    return [partial(_camvid_frame, image, label, split) for image, label in pairs]


def _camvid_frame(image: Path, label: Path, split: str) -> CameraFrame:
    rgb, camvid = read_camvid(image, label)
    return CameraFrame(image.stem, rgb, Path('predictions', f'{split}annot', f'{image.stem}.png'), 'camvid',
                       camvid=camvid)


def _images(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise ValueError(f'{folder}: not a folder')
    paths = sorted(path for path in folder.iterdir() if path.suffix.lower() in IMAGE_SUFFIXES)
    if not paths:
        raise ValueError(f'{folder}: no .png or .jpg images in this folder')
    return paths


def image_frames(root: Path) -> list[Loader]:
    """A folder of images without labels: predictions and overlays only."""
    return [partial(_image_frame, path) for path in _images(root)]


def _image_frame(path: Path) -> CameraFrame:
    return CameraFrame(path.stem, read_rgb(path), Path('predictions', f'{path.stem}_labelIds.png'), 'cityscapes')


def image_box_frames(root: Path, rule: BoxRule) -> list[Loader]:
    """image_2/ images with label_2/ 2D boxes (KITTI label format); images without a label file are skipped."""
    if not (root / 'label_2').is_dir():
        raise ValueError(f'{root}: no label_2/ folder (image_2/ + label_2/ KITTI-format boxes)')
    paths = [path for path in _images(root / 'image_2') if (root / 'label_2' / f'{path.stem}.txt').exists()]
    if not paths:
        raise ValueError(f'{root}: no image in image_2/ has a label file in label_2/')
    return [partial(_image_box_frame, path, root / 'label_2' / f'{path.stem}.txt', rule) for path in paths]


def _image_box_frame(path: Path, label: Path, rule: BoxRule) -> CameraFrame:
    rgb = read_rgb(path)
    height, width = rgb.shape[:2]
    in_box, in_any = np.zeros((height, width), bool), np.zeros((height, width), bool)
    boxes = []
    for box in kitti_object.read_labels(label):
        left, top, right, bottom = box.box_2d
        rows = slice(max(int(np.floor(top)), 0), min(int(np.ceil(bottom)), height))
        columns = slice(max(int(np.floor(left)), 0), min(int(np.ceil(right)), width))
        in_any[rows, columns] = True
        if rule.is_positive(box.type):
            in_box[rows, columns] = True
        boxes.append((tuple(box.box_2d), rule.is_positive(box.type)))
    return CameraFrame(path.stem, rgb, Path('predictions', f'{path.stem}_labelIds.png'), 'cityscapes',
                       in_box=in_box, other=~in_any, boxes=tuple(boxes))
