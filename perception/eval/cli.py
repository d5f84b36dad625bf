"""perception-eval: run a shipped or given model over a real dataset in its standard layout, write predictions in
the dataset's own format, score them, and draw a picture per frame.

LiDAR datasets (--backend sparse or pointnet2; predictions are .label files of raw SemanticKITTI ids):
  semantickitti   ROOT/sequences/SS/velodyne/*.bin [+ labels/*.label] -> OUT/sequences/SS/predictions/*.label
  folder          a folder of .bin / .npz / .pcd / .pcd.bin sweeps [+ STEM.label, SemanticKITTI ids]
  rellis          the same with RELLIS-3D labels (mapped in config/datasets.yaml)
  squeezeseg      SqueezeSeg range images *.npy (64x512x6) with coarse car / pedestrian / cyclist labels
  kitti-object    KITTI object velodyne/ + label_2/ 3D boxes + calib/ + image_2/: in-Car-box and other in-image
                  points labelled a vehicle class
Camera datasets (images are resized to --width, see perception/core/camera/image_size.py):
  cityscapes      leftImg8bit/SPLIT/ [+ gtFine labelIds, instanceIds] -> Cityscapes labelIds PNGs (+ PQ)
  camvid          SegNet's layout (SPLIT.txt, SPLIT/, SPLITannot/) -> CamVid class PNGs
  images          a folder of .png / .jpg images -> Cityscapes labelIds PNGs and overlays only
  nuscenes-boxes  image_2/ + label_2/ 2D boxes (KITTI format): car-box pixels and outside pixels labelled vehicle

Writes OUT/report.json, OUT/images/NAME.png (bird's-eye views or overlays, prediction beside ground truth) and
the predictions; prints per-class IoU, mIoU over the classes present in the ground truth and the other scores.

exit status: 0 evaluated; 1 bad input (no frames, wrong layout, labels that do not match, unreadable file,
unusable weights: one line on stderr); 2 bad command line.
"""
import argparse
import json
import logging
import sys
from pathlib import Path

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.eval.camera_sets import (CAMERA_DATASETS, camvid_frames, cityscapes_frames, image_box_frames,
                                         image_frames)
from perception.eval.lidar_sets import (LIDAR_DATASETS, folder_frames, kitti_object_frames, kitti_object_root,
                                        semantickitti_frames, squeezeseg_frames)
from perception.eval.real_data import load_dataset_mappings
from perception.eval.real_eval import evaluate_camera, evaluate_lidar
from perception.io.point_clouds import SWEEP_SUFFIXES
from perception.taxonomy import load_taxonomy

DATASETS = LIDAR_DATASETS + CAMERA_DATASETS
DEFAULT_SPLITS = {'cityscapes': 'val', 'camvid': 'test'}


def detect_dataset(root: Path) -> str:
    """The dataset layout of a folder; ValueError when none or several fit."""
    if not root.is_dir():
        raise ValueError(f'{root}: no such folder')
    names = {path.name for path in root.iterdir()}
    suffixes = {path.suffix.lower() for path in root.iterdir() if path.is_file()}
    if 'sequences' in names:
        return 'semantickitti'
    if 'leftImg8bit' in names:
        return 'cityscapes'
    if any(f'{split}.txt' in names and f'{split}annot' in names for split in ('train', 'val', 'test')):
        return 'camvid'
    kitti = kitti_object_root(root)
    if (kitti / 'label_2').is_dir() and (kitti / 'calib').is_dir():
        return 'kitti-object'
    if {'image_2', 'label_2'} <= names:
        return 'nuscenes-boxes'
    if '.npy' in suffixes:
        return 'squeezeseg'
    if suffixes & set(SWEEP_SUFFIXES):
        if '.label' in suffixes:
            raise ValueError(f'{root}: sweeps with .label files: say whose ids they hold with --dataset folder '
                             '(SemanticKITTI) or --dataset rellis (RELLIS-3D)')
        return 'folder'
    if suffixes & {'.png', '.jpg', '.jpeg'}:
        return 'images'
    raise ValueError(f'{root}: no known dataset layout here; give --dataset ({", ".join(DATASETS)})')


def list_frames(dataset: str, root: Path, split: str | None) -> list:
    """The dataset's frame loaders (see lidar_sets / camera_sets)."""
    taxonomy, mappings = load_taxonomy(), load_dataset_mappings()
    split = split or DEFAULT_SPLITS.get(dataset)
    listers = {
        'semantickitti': lambda: semantickitti_frames(root),
        'folder': lambda: folder_frames(root, taxonomy),
        'rellis': lambda: folder_frames(root, taxonomy, mappings.rellis3d),
        'squeezeseg': lambda: squeezeseg_frames(root),
        'kitti-object': lambda: kitti_object_frames(root, mappings),
        'cityscapes': lambda: cityscapes_frames(root, split, taxonomy),
        'camvid': lambda: camvid_frames(root, split),
        'images': lambda: image_frames(root),
        'nuscenes-boxes': lambda: image_box_frames(root, mappings.image_boxes),
    }
    return listers[dataset]()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-eval', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('data', type=Path, help='the dataset folder')
    parser.add_argument('--dataset', choices=DATASETS, help='its layout (default: detected from the folder)')
    parser.add_argument('--model', type=Path, help='weights file to evaluate (default: the shipped weights)')
    parser.add_argument('--backend', choices=('sparse', 'pointnet2'), default='sparse',
                        help='LiDAR backend of the weights (default: sparse)')
    parser.add_argument('--out', type=Path, help='output folder (default: outputs/eval/DATASET)')
    parser.add_argument('--limit', type=int, help='evaluate only the first N frames')
    parser.add_argument('--split', help='Cityscapes / CamVid split (default: val / test)')
    parser.add_argument('--width', type=int, default=640, help='camera working width in pixels (default: 640)')
    parser.add_argument('--no-panoptic', action='store_true', help='camera: skip the panoptic head (no PQ)')
    parser.add_argument('--device', default='auto', help="'auto' (CUDA when present), 'cpu' or 'cuda'")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error('--limit must be at least 1')
    if args.width < 32:
        parser.error('--width must be at least 32')
    return args


def make_segmenter(dataset: str, args: argparse.Namespace) -> LidarSegmenter | CameraSegmenter:
    """The segmenter for the dataset's modality; the camera's panoptic head only where instances can be scored."""
    if dataset in LIDAR_DATASETS:
        return LidarSegmenter(LidarSegmenterConfig(backend=args.backend, weights=str(args.model) if args.model
                                                   else None, device=args.device))
    default = CameraSegmenterConfig()
    panoptic = dataset == 'cityscapes' and not args.no_panoptic
    return CameraSegmenter(CameraSegmenterConfig(weights=args.model or default.weights, device=args.device,
                                                 panoptic=panoptic, input_width=args.width))


def summary_lines(report: dict) -> list[str]:
    """The report in a few readable lines."""
    lines = [f"{report['dataset']}: {report['frames']} frames in {report['seconds']} s ({report['model']})"]

    def iou_line(title: str, section: dict):
        lines.append(f"{title}: mIoU {section['miou']} over {section['classes']} classes present, "
                     f"accuracy {section['accuracy']}")
        lines.append('  ' + '  '.join(f'{name} {value}' for name, value in section['per_class_iou'].items()))
    if 'taxonomy' in report:
        iou_line('taxonomy classes', report['taxonomy'])
    if 'cityscapes' in report:
        iou_line("Cityscapes' 19 classes (trainIds)", report['cityscapes'])
    if 'camvid' in report:
        iou_line("CamVid's 11 classes (class-average IoU)", report['camvid'])
    if 'panoptic' in report:
        lines.append('panoptic: ' + '  '.join(f"PQ {group} {values['pq']}" for group, values in
                                              report['panoptic'].items()))
    for name, values in report.get('coarse', {}).items():
        if values['labelled']:
            lines.append(f"coarse {name}: IoU {values['iou']} precision {values['precision']} "
                         f"recall {values['recall']} ({values['labelled']} labelled)")
    if 'boxes' in report:
        boxes = report['boxes']
        lines.append(f"boxes: {boxes['in_box_vehicle']}% of {boxes['in_box']} in-box labelled vehicle, "
                     f"{boxes['other_vehicle']}% of {boxes['other']} others")
    shares = report['class_shares']
    lines.append(f"largest predicted class: {shares['largest_class']} {shares['largest_share']}%")
    return lines


def run(args: argparse.Namespace) -> tuple[dict, Path]:
    """Evaluate as the arguments say; the report and the report.json written."""
    root = args.data
    dataset = args.dataset or detect_dataset(root)
    frames = list_frames(dataset, root, args.split)[:args.limit]
    out = args.out or Path('outputs') / 'eval' / dataset
    segmenter = make_segmenter(dataset, args)
    mappings = load_dataset_mappings()
    if dataset in LIDAR_DATASETS:
        report = evaluate_lidar(frames, segmenter, mappings, out, dataset)
        model = f'{args.backend}: {args.model or "shipped weights"}'
    else:
        report = evaluate_camera(frames, segmenter, mappings, out, dataset)
        model = f'camera: {args.model or "shipped weights"}, width {args.width}'
    report = {'dataset': dataset, 'root': str(root.resolve()), 'model': model, **report}
    out.mkdir(parents=True, exist_ok=True)
    path = out / 'report.json'
    path.write_text(json.dumps(report, indent=2))
    return report, path


def main(argv=None) -> int:
    args = parse_args(argv)
    # spconv asks torch.fx whether it is tracing; torch warns about that API once per process: noise for users
    logging.getLogger('torch.fx._symbolic_trace').setLevel(logging.ERROR)
    try:
        report, path = run(args)
    except (OSError, ValueError) as error:
        message = ' '.join(str(error).split()) or type(error).__name__
        print(f'perception-eval: {message}', file=sys.stderr)
        return 1
    print('\n'.join(summary_lines(report)))
    print(f'wrote {path}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
