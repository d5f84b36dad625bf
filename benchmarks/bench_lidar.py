"""LiDAR segmentation, both backends side by side on held-out simulated sweeps: per-class IoU, mIoU, LiDAR PQ
(SemanticKITTI rules: ignore points removed, unmatched segments under 50 points not counted), ms per sweep and
points per second. With --kitti, also the share of real KITTI points inside labelled Car boxes predicted as a
vehicle class, and of points outside every box predicted as a vehicle class.

    .venv/bin/python benchmarks/bench_lidar.py [--seed 3001] [--frames 100] [--every 2] [--kitti DIR]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_data import eval_frames  # noqa: E402
from report import publish  # noqa: E402

from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig  # noqa: E402
from perception.eval.metrics import ConfusionMatrix, PanopticQuality  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402

VEHICLES = ('car', 'truck', 'bus', 'other-vehicle')


def evaluate(segmenter: LidarSegmenter, data: dict, every: int) -> tuple[dict, dict]:
    taxonomy = segmenter.taxonomy
    confusion = ConfusionMatrix(taxonomy.num_classes)
    quality = PanopticQuality(taxonomy.num_classes, taxonomy.thing_ids, rules='semantickitti', min_points=50)
    times, points = [], 0
    indices = range(0, len(data['points']), every)
    segmenter.process(np.stack([data['points'][0][a] for a in ('x', 'y', 'z', 'intensity')], 1))  # warm-up
    for i in tqdm(indices, desc=segmenter.config.backend, leave=False):
        cloud = data['points'][i]
        sweep = np.stack([cloud[a] for a in ('x', 'y', 'z', 'intensity')], 1)
        result = segmenter.process(sweep)
        times.append(result.timing_ms['total'])
        points += len(sweep)
        confusion.update(result.labels, data['point_semantic'][i])
        quality.update(result.labels, result.instance, data['point_semantic'][i], data['point_instance'][i])
    pq = quality.compute()
    row = {'backend': segmenter.config.backend, 'mIoU': 100 * confusion.miou(),
           'accuracy': 100 * confusion.accuracy(), 'PQ': 100 * pq['all']['pq'], 'PQ things': 100 * pq['things']['pq'],
           'PQ stuff': 100 * pq['stuff']['pq'], 'ms per sweep': float(np.mean(times)),
           'points/s': points / (np.sum(times) / 1e3), 'sweeps': len(times)}
    per_class = {name: round(100 * float(v), 1) for name, v in zip(taxonomy.names, confusion.iou())}
    return row, per_class


def read_kitti_boxes(label_file: Path, calib_file: Path) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """Car boxes of a KITTI object label file as (centre in the velodyne frame, (l, w, h), yaw about z)."""
    calib = {}
    for line in calib_file.read_text().splitlines():
        if ':' in line:
            key, values = line.split(':', 1)
            calib[key] = np.array(values.split(), float)
    velo_to_cam = np.vstack([calib['Tr_velo_to_cam'].reshape(3, 4), [0, 0, 0, 1]])
    rect = np.eye(4)
    rect[:3, :3] = calib['R0_rect'].reshape(3, 3)
    cam_to_velo = np.linalg.inv(rect @ velo_to_cam)
    boxes = []
    for line in label_file.read_text().splitlines():
        fields = line.split()
        if fields[0] != 'Car':
            continue
        h, w, length, x, y, z, rotation_y = (float(v) for v in fields[8:15])
        bottom = cam_to_velo @ np.array([x, y, z, 1.0])
        boxes.append((bottom[:3] + [0, 0, h / 2], np.array([length, w, h]), -rotation_y - np.pi / 2))
    return boxes


def inside_boxes(xyz: np.ndarray, boxes, margin: float = 0.2) -> np.ndarray:
    inside = np.zeros(len(xyz), bool)
    for centre, size, yaw in boxes:
        c, s = np.cos(yaw), np.sin(yaw)
        local = (xyz - centre) @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
        inside |= np.all(np.abs(local) <= size / 2 + margin, axis=1)
    return inside


def kitti_vehicle_shares(segmenter: LidarSegmenter, root: Path) -> dict:
    taxonomy = segmenter.taxonomy
    vehicles = [taxonomy.id_of(n) for n in VEHICLES]
    in_box = in_box_vehicle = outside = outside_vehicle = 0
    for scan in sorted((root / 'velodyne').glob('*.bin')):
        points = np.fromfile(scan, np.float32).reshape(-1, 4)
        boxes = read_kitti_boxes(root / 'label_2' / f'{scan.stem}.txt', root / 'calib' / f'{scan.stem}.txt')
        labels = segmenter.process(points).labels
        vehicle = np.isin(labels, vehicles)
        inside = inside_boxes(points[:, :3], boxes)
        in_box, in_box_vehicle = in_box + inside.sum(), in_box_vehicle + (vehicle & inside).sum()
        outside, outside_vehicle = outside + (~inside).sum(), outside_vehicle + (vehicle & ~inside).sum()
    return {'points in Car boxes': int(in_box), 'in-box vehicle %': 100 * in_box_vehicle / max(in_box, 1),
            'points outside boxes': int(outside), 'outside vehicle %': 100 * outside_vehicle / max(outside, 1)}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=3001)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--every', type=int, default=2, help='evaluate every N-th sweep of the drive')
    parser.add_argument('--kitti', type=Path, help='KITTI object training folder (velodyne, label_2, calib)')
    args = parser.parse_args()
    data = eval_frames(args.seed, args.frames)
    rows, per_class, kitti = [], {}, {}
    for backend in ('sparse', 'pointnet2'):
        segmenter = LidarSegmenter(LidarSegmenterConfig(backend=backend))
        row, per_class[backend] = evaluate(segmenter, data, args.every)
        rows.append(row)
        if args.kitti:
            kitti[backend] = kitti_vehicle_shares(segmenter, args.kitti)
            row.update({f'KITTI {k}': v for k, v in kitti[backend].items() if '%' in k})
    taxonomy = load_taxonomy()
    print('\nper-class IoU (%):')
    for name in taxonomy.names:
        print(f'  {name:15s} ' + '  '.join(f'{b}: {per_class[b][name]}' for b in per_class))
    publish('lidar', rows, {'seed': args.seed, 'frames': args.frames, 'every': args.every,
                            'per_class_iou': per_class, 'kitti': kitti, 'pq_min_points': 50})


if __name__ == '__main__':
    main()
