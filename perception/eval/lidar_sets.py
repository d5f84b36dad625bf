"""LiDAR datasets in their standard layouts, as lists of frames to load one at a time.

Every dataset lists its frames up front (so a bad layout fails before any model runs) and loads a frame only
when asked; a frame whose labels do not match its points raises ValueError. Ground truth comes as full taxonomy
labels, coarse labels (config/datasets.yaml) or box masks; predictions go to a .label file (raw SemanticKITTI
ids) at the frame's `prediction` path under the output folder.
"""
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from perception.core.clouds import unpack_point_labels
from perception.eval.real_data import DatasetMappings
from perception.io import kitti_object, semantickitti
from perception.io.point_clouds import read_squeezeseg, read_sweep, sweep_paths, sweep_stem
from perception.taxonomy import Taxonomy

LIDAR_DATASETS = ('semantickitti', 'folder', 'squeezeseg', 'rellis', 'kitti-object')


@dataclass
class LidarFrame:
    name: str
    points: np.ndarray               # (N, 4) x, y, z, intensity
    prediction: Path                 # where its .label goes, relative to the output folder
    labels: np.ndarray | None = None  # (N,) taxonomy ids, ignore where unlabelled
    coarse: np.ndarray | None = None  # (N,) coarse label values (config/datasets.yaml squeezeseg), 0 unknown
    in_box: np.ndarray | None = None  # (N,) bool: points in a positive box (and in the image)
    other: np.ndarray | None = None   # (N,) bool: the other scored points


Loader = Callable[[], LidarFrame]


def _checked(labels: np.ndarray, points: np.ndarray, path: Path) -> np.ndarray:
    if len(labels) != len(points):
        raise ValueError(f'{path}: {len(labels)} labels for {len(points)} points')
    return labels


def semantickitti_frames(root: Path) -> list[Loader]:
    """ROOT/sequences/SS/velodyne/*.bin [+ labels/*.label]; predictions to sequences/SS/predictions/."""
    sequences = sorted(path.parent.name for path in (root / 'sequences').glob('*/velodyne') if path.is_dir())
    frames = [(sequence, frame) for sequence in sequences for frame in semantickitti.list_frames(root, sequence)]
    if not frames:
        raise ValueError(f'{root}: no sweeps in sequences/*/velodyne/*.bin (SemanticKITTI layout)')
    return [partial(_semantickitti_frame, root, sequence, frame) for sequence, frame in frames]


def _semantickitti_frame(root: Path, sequence: str, frame: int) -> LidarFrame:
    points, labels, _ = semantickitti.read_frame(root, sequence, frame)
    prediction = Path('sequences', sequence, 'predictions', f'{frame:06d}.label')
    return LidarFrame(f'{sequence}/{frame:06d}', points, prediction, labels)


def _sweeps(root: Path) -> list[Path]:
    if not root.is_dir():
        raise ValueError(f'{root}: not a folder')
    paths = sweep_paths(root)
    if not paths:
        raise ValueError(f'{root}: no .bin, .npz or .pcd sweeps in this folder')
    return paths


def folder_frames(root: Path, taxonomy: Taxonomy, rellis_ids: np.ndarray | None = None) -> list[Loader]:
    """Sweep files in a folder, each with an optional STEM.label: raw SemanticKITTI ids, or RELLIS-3D ids when
    `rellis_ids` (the RELLIS id -> taxonomy lookup) is given."""
    return [partial(_folder_frame, path, taxonomy, rellis_ids) for path in _sweeps(root)]


def _folder_frame(path: Path, taxonomy: Taxonomy, rellis_ids: np.ndarray | None) -> LidarFrame:
    points = read_sweep(path)
    stem = sweep_stem(path)
    label_path = path.with_name(f'{stem}.label')
    labels = None
    if label_path.exists():
        if rellis_ids is None:
            labels, _ = semantickitti.read_labels(label_path, taxonomy)
        else:
            labels = rellis_ids[unpack_point_labels(np.fromfile(label_path, np.uint32))[0]]
        _checked(labels, points, label_path)
    return LidarFrame(stem, points, Path('predictions', f'{stem}.label'), labels)


def squeezeseg_frames(root: Path) -> list[Loader]:
    """SqueezeSeg range images (*.npy, 64x512x6) with coarse car / pedestrian / cyclist labels."""
    paths = sorted(root.glob('*.npy')) if root.is_dir() else []
    if not paths:
        raise ValueError(f'{root}: no SqueezeSeg range images (*.npy) in this folder')
    return [partial(_squeezeseg_frame, path) for path in paths]


def _squeezeseg_frame(path: Path) -> LidarFrame:
    points, coarse = read_squeezeseg(path)
    return LidarFrame(path.stem, points, Path('predictions', f'{path.stem}.label'), coarse=coarse)


def kitti_object_root(root: Path) -> Path:
    """The folder holding label_2/ and calib/: ROOT itself or ROOT/training."""
    return root / 'training' if (root / 'training' / 'label_2').is_dir() else root


def kitti_object_frames(root: Path, mappings: DatasetMappings) -> list[Loader]:
    """KITTI object frames: velodyne/ (or velodyne_reduced/), label_2/ 3D boxes, calib/, image_2/."""
    root = kitti_object_root(root)
    velodyne = next((root / name for name in ('velodyne', 'velodyne_reduced') if (root / name).is_dir()), None)
    missing = [name for name in ('label_2', 'calib', 'image_2') if not (root / name).is_dir()]
    if velodyne is None or missing:
        raise ValueError(f'{root}: not the KITTI object layout (needs velodyne/, label_2/, calib/, image_2/)')
    scans = sorted(velodyne.glob('*.bin'))
    if not scans:
        raise ValueError(f'{velodyne}: no sweeps (*.bin)')
    return [partial(_kitti_object_frame, root, scan, mappings) for scan in scans]


def _kitti_object_frame(root: Path, scan: Path, mappings: DatasetMappings) -> LidarFrame:
    points = read_sweep(scan)
    rule = mappings.kitti_object
    calib = kitti_object.read_calib(root / 'calib' / f'{scan.stem}.txt')
    image = next(iter(sorted((root / 'image_2').glob(f'{scan.stem}.*'))), None)
    shape = cv2.imread(str(image), cv2.IMREAD_UNCHANGED).shape[:2] if image else None
    if shape is None:
        raise ValueError(f'{root / "image_2"}: no readable image for frame {scan.stem}')
    in_image = kitti_object.in_image(points[:, :3], calib, shape)
    positive, counted = np.zeros(len(points), bool), np.zeros(len(points), bool)
    for box in kitti_object.read_labels(root / 'label_2' / f'{scan.stem}.txt'):
        if rule.is_positive(box.type) or rule.is_excluded(box.type):
            inside = kitti_object.in_box(points[:, :3], calib, box, rule.margin)
            counted |= inside
            if rule.is_positive(box.type):
                positive |= inside
    return LidarFrame(scan.stem, points, Path('predictions', f'{scan.stem}.label'), in_box=positive & in_image,
                      other=in_image & ~counted)
