"""perception-export: the models as ONNX for inference runtimes (ONNX Runtime, OpenVINO).

    perception-export camera --format onnx [--int8 --calibration-images DIR ...] [--out outputs/export/camera]
    perception-export lidar [--out outputs/export/lidar]

camera: writes features.onnx, semantic.onnx (+ panoptic.onnx) and the manifest camera.json, checked against the
PyTorch network on simulated validation frames (and on the calibration folders' other images); --int8 adds
*.int8.onnx and camera.int8.json, calibrated on simulated frames of training seeds plus the images given. Run them
with `camera_segmentation.model.backend: onnx` (or openvino) and `model.weights: <manifest>`.
lidar: PointNet++ as ONNX, checked likewise (the sparse U-Net cannot be exported: see perception/export/lidar.py).
"""
import argparse
import json
import sys
from pathlib import Path

from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits


def export_camera_command(args) -> int:
    from perception.export.camera import (check_against_pytorch, export_camera, folder_images, quantize_camera,
                                          read_manifest, simulated_frames, write_manifest)
    from perception.export.runtime import RuntimeCameraNet
    from perception.models.camera_net import load_camera_net

    net, _ = load_camera_net(args.weights)
    panoptic_size = None if args.no_panoptic else tuple(args.panoptic_size)
    manifest_path = export_camera(net, args.out, args.weights, panoptic_size)
    splits = load_splits()
    check_images = simulated_frames([splits.val[0]], args.check_frames)  # a validation drive
    check_images += [image for folder in args.calibration_images
                     for image in folder_images(folder, args.images_per_folder, offset=0.5)]
    manifests = [manifest_path]
    if args.int8:
        first = splits.train[0]
        calibration = simulated_frames(list(range(first, first + args.calibration_seeds)), args.frames_per_seed)
        calibration += [image for folder in args.calibration_images
                        for image in folder_images(folder, args.images_per_folder)]
        manifests.append(quantize_camera(manifest_path, calibration))
    for path in manifests:
        check = check_against_pytorch(net, RuntimeCameraNet(path, 'onnx'), check_images)
        write_manifest(path, {**read_manifest(path), 'check': check.as_dict()})
        print(f'{path}: against PyTorch on {check.frames} frames: max |logit difference| '
              f'{check.max_abs_difference:.4g}, labels agree on {100 * check.label_agreement:.2f}% of pixels')
    return 0


def export_lidar_command(args) -> int:
    from perception.export.lidar import export_pointnet2

    report = export_pointnet2(args.weights, args.out, args.points)
    print(json.dumps(report, indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='perception-export', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest='command', required=True)
    camera = commands.add_parser('camera', help='the camera network (backbone, semantic and panoptic heads)')
    camera.add_argument('--format', choices=('onnx',), default='onnx',
                        help='onnx (OpenVINO reads the same files)')
    camera.add_argument('--weights', type=Path, default=WEIGHTS_DIR / 'camera.pt')
    camera.add_argument('--out', type=Path, default=Path('outputs/export/camera'))
    camera.add_argument('--int8', action='store_true', help='also a post-training INT8 backbone and semantic head')
    camera.add_argument('--no-panoptic', action='store_true', help='leave the panoptic head out')
    camera.add_argument('--panoptic-size', type=int, nargs=2, default=(192, 640), metavar=('HEIGHT', 'WIDTH'),
                        help='padded image size the panoptic head is exported for (it is size-specific)')
    camera.add_argument('--calibration-images', type=Path, nargs='*', default=[],
                        help='folders of real images for INT8 calibration (and, other images, for the check)')
    camera.add_argument('--images-per-folder', type=int, default=16)
    camera.add_argument('--calibration-seeds', type=int, default=4, help='simulated training drives')
    camera.add_argument('--frames-per-seed', type=int, default=4)
    camera.add_argument('--check-frames', type=int, default=4, help='simulated validation frames for the check')
    camera.set_defaults(run=export_camera_command)
    lidar = commands.add_parser('lidar', help='the PointNet++ LiDAR network')
    lidar.add_argument('--weights', type=Path, default=WEIGHTS_DIR / 'lidar_pointnet2.pt')
    lidar.add_argument('--out', type=Path, default=Path('outputs/export/lidar'))
    lidar.add_argument('--points', type=int, default=0, help='points per chunk (default: the weights\' chunk size)')
    lidar.set_defaults(run=export_lidar_command)
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (FileNotFoundError, ValueError, ImportError) as error:
        print(f'perception-export: {error}', file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
