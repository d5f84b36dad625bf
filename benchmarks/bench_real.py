"""Every model on every labelled real set in ../shared/data, side by side, beside the held-out simulated drive: one
table whose rows are (set, metric) and whose columns are the LiDAR backends and the camera, with the issues'
targets. Each real set is scored as perception-eval scores it (perception/eval/real_eval.py, config/datasets.yaml):

- kitti_raw_0001_squeezeseg (4 real HDL-64E frames, car points labelled): car IoU and precision;
- kitti_object (3 frames) and kitti_object_000008 (1 frame, 6 cars): share of in-image points inside Car boxes
  labelled a vehicle class, and of the other in-image points;
- rellis3d_example: Ouster OS1-64 mIoU over the mapped RELLIS-3D classes present; for the OS1 and the VLP-32C sweep
  the largest predicted class and its share of the sweep;
- camvid test (233 frames): class-average IoU in CamVid's 11 classes and pixel accuracy;
- nuscenes_front (100 images with 2D boxes): car-box pixels labelled a vehicle class, and pixels outside all boxes;
- simulated drive 3001 (held out): LiDAR mIoU (benchmarks/bench_lidar.py) and per-frame camera mIoU
  (benchmarks/bench_camera.py, interval 1).

    .venv/bin/python benchmarks/bench_real.py [--quick] [--data-root ../shared/data] [--out DIR]
        [--weights-camera PATH] [--weights-lidar-sparse PATH] [--weights-lidar-pointnet2 PATH]

--quick evaluates fewer frames (camvid 30, nuscenes 20, simulated 20); --out also writes every prediction and
picture there. Without the data root it says so and exits 0. Writes outputs/benchmarks/real.json.
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_camera  # noqa: E402
import bench_lidar  # noqa: E402
from eval_data import eval_frames  # noqa: E402
from report import publish  # noqa: E402

from perception.core.camera.propagation import PropagationConfig  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.lidar.segmenter import BACKENDS, LidarSegmenter, LidarSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.camera_sets import camvid_frames, image_box_frames  # noqa: E402
from perception.eval.lidar_sets import folder_frames, kitti_object_frames, squeezeseg_frames  # noqa: E402
from perception.eval.real_data import DEFAULT_DATA_ROOT, load_dataset_mappings  # noqa: E402
from perception.eval.real_eval import evaluate_camera, evaluate_lidar  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402

SIM_SEED = 3001
WORKING_WIDTH = 640
COLUMNS = ('set', 'metric', *BACKENDS, 'camera', 'target')


def lidar_sets(root: Path, mappings, taxonomy) -> dict:
    """name -> frame loaders of the labelled real LiDAR sets present under the data root."""
    listers = {'squeezeseg': (root / 'kitti_raw_0001_squeezeseg', squeezeseg_frames),
               'kitti_object': (root / 'kitti_object', lambda path: kitti_object_frames(path, mappings)),
               'kitti_object_000008': (root / 'kitti_object_000008', lambda path: kitti_object_frames(path, mappings)),
               'rellis3d': (root / 'rellis3d_example', lambda path: folder_frames(path, taxonomy, mappings.rellis3d))}
    return {name: lister(path) for name, (path, lister) in listers.items() if path.is_dir()}


def camera_sets(root: Path, mappings, quick: bool) -> dict:
    sets = {}
    if (root / 'camvid').is_dir():
        sets['camvid'] = camvid_frames(root / 'camvid', 'test')[:30 if quick else None]
    if (root / 'nuscenes_front').is_dir():
        sets['nuscenes_front'] = image_box_frames(root / 'nuscenes_front', mappings.image_boxes)[:20 if quick else None]
    return sets


def lidar_rows(name: str, report: dict) -> list[tuple[str, str, float | str | None, str]]:
    """(set, metric, value, target) rows of one LiDAR report."""
    if name == 'squeezeseg':
        car = report['coarse']['car']
        return [('kitti_raw_0001_squeezeseg', 'car IoU', car['iou'], '>= 60'),
                ('kitti_raw_0001_squeezeseg', 'car precision', car['precision'], '')]
    if name.startswith('kitti_object'):
        boxes = report['boxes']
        return [(name, f"in-Car-box points vehicle % ({boxes['in_box']})", boxes['in_box_vehicle'], '>= 80'),
                (name, f"other in-image points vehicle % ({boxes['other']})", boxes['other_vehicle'], '< 10')]
    rows = [('rellis3d OS1-64', 'mIoU, mapped classes present', report['taxonomy']['miou'], '')]
    for frame in report['per_frame']:
        sensor = 'rellis3d VLP-32C' if frame['name'].startswith('vel') else 'rellis3d OS1-64'
        rows.append((sensor, 'largest class % of sweep', f"{frame['largest_share']} {frame['largest_class']}",
                     '<= 50 unless real'))
    return rows


def camera_rows(name: str, report: dict) -> list[tuple[str, str, float | None, str]]:
    if name == 'camvid':
        camvid = report['camvid']
        return [(f"camvid test ({report['frames']})", 'class-average IoU', camvid['miou'], '>= 65'),
                (f"camvid test ({report['frames']})", 'pixel accuracy', camvid['accuracy'], '')]
    boxes = report['boxes']
    return [(f"nuscenes_front ({report['frames']})", 'car-box pixels vehicle %', boxes['in_box_vehicle'], '>= 60'),
            (f"nuscenes_front ({report['frames']})", 'outside-box pixels vehicle %', boxes['other_vehicle'], '< 5')]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data-root', type=Path, default=DEFAULT_DATA_ROOT)
    parser.add_argument('--quick', action='store_true', help='fewer frames: camvid 30, nuscenes 20, simulated 20')
    parser.add_argument('--out', type=Path, help='also write predictions and pictures under this folder')
    parser.add_argument('--weights-camera', type=Path)
    for backend in BACKENDS:
        parser.add_argument(f'--weights-lidar-{backend}', type=Path)
    args = parser.parse_args()
    if not args.data_root.is_dir():
        print(f'bench_real: no real data at {args.data_root} (see --data-root); nothing to measure')
        return
    taxonomy, mappings = load_taxonomy(), load_dataset_mappings()
    sim_frames = 20 if args.quick else 100
    data = eval_frames(SIM_SEED, sim_frames)
    cells: dict[tuple[str, str], dict] = {}  # (set, metric) -> {column: value, 'target': ...}
    reports, weights = {}, {}

    def put(rows, column):
        for set_name, metric, value, target in rows:
            cells.setdefault((set_name, metric), {'target': target})[column] = value

    for backend in BACKENDS:
        chosen = getattr(args, f'weights_lidar_{backend}')
        segmenter = LidarSegmenter(LidarSegmenterConfig(backend=backend, weights=str(chosen) if chosen else None))
        weights[backend] = str(chosen or 'shipped')
        for name, frames in lidar_sets(args.data_root, mappings, taxonomy).items():
            out = args.out / backend / name if args.out else None
            reports[f'{backend}/{name}'] = evaluate_lidar(frames, segmenter, mappings, out, f'{backend} {name}')
            put(lidar_rows(name, reports[f'{backend}/{name}']), backend)
        sim, _ = bench_lidar.evaluate(segmenter, data, every=2)
        put([(f'simulated drive {SIM_SEED} ({sim["sweeps"]} sweeps)', 'mIoU', sim['mIoU'], '>= 80.1 (sparse)')],
            backend)

    base = CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation'))
    base = replace(base, weights=args.weights_camera or base.weights, panoptic=False)
    weights['camera'] = str(args.weights_camera or 'shipped')
    segmenter = CameraSegmenter(replace(base, input_width=WORKING_WIDTH))
    for name, frames in camera_sets(args.data_root, mappings, args.quick).items():
        out = args.out / 'camera' / name if args.out else None
        reports[f'camera/{name}'] = evaluate_camera(frames, segmenter, mappings, out, f'camera {name}')
        put(camera_rows(name, reports[f'camera/{name}']), 'camera')
    per_frame = CameraSegmenter(replace(base, propagation=PropagationConfig(policy='fixed', interval=1)))
    sim = bench_camera.run(per_frame, data, panoptic=False)
    put([(f'simulated drive {SIM_SEED} ({sim_frames} frames)', 'per-frame mIoU', sim['mIoU'], '>= 65.0')], 'camera')

    rows = [{'set': set_name, 'metric': metric, **values} for (set_name, metric), values in cells.items()]
    publish('real', rows, {'data_root': str(args.data_root.resolve()), 'quick': args.quick, 'weights': weights,
                           'simulated': {'seed': SIM_SEED, 'frames': sim_frames, 'lidar_every': 2},
                           'torch_threads': torch.get_num_threads(), 'reports': reports}, list(COLUMNS))


if __name__ == '__main__':
    main()
