"""perception-train fusion: calibrate camera-LiDAR fusion on validation drives. Runs both trained models on the
validation frames (the Cityscapes and SemanticKITTI exports of the same drives) as they run live: the camera with
its configured key-frame policy along each drive, so consecutive frames are propagated. Counts each modality's
confusion on the LiDAR points the camera sees, scores the fused mIoU per camera weight (the LiDAR's weight is the
unit) and writes the best weight and both confusions together to perception/weights/fusion.yaml, the calibration
the fusion reads (core.fusion.calibration), recording the weights files of the pair it calibrated. Prints
camera-only, LiDAR-only and fused mIoU with and without the confusions at the chosen weight, and fused mIoU per
camera weight.

    perception-sim --split val --sequences 4 --frames 25 --cityscapes data/fusion_val/cityscapes \
        --semantickitti data/fusion_val/semantickitti                                  # consecutive frames
    perception-train fusion --cityscapes data/fusion_val/cityscapes --semantickitti data/fusion_val/semantickitti
"""
import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from tqdm import tqdm

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.fusion.calibration import SHIPPED_CALIBRATION, FusionCalibration, write_calibration
from perception.core.fusion.fuse import FusionConfig, fuse_labels
from perception.core.fusion.projection import OcclusionConfig, project_to_image
from perception.core.geometry import CameraIntrinsics
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.core.parameters import load_parameters, section
from perception.eval.metrics import ConfusionMatrix
from perception.io import cityscapes, semantickitti
from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.common import provenance


FRAME_PERIOD_NS = 100_000_000  # the simulator's 10 Hz
CAMERA_WEIGHTS = (0.25, 0.5, 0.75, 1.0, 1.5)
LIDAR_WEIGHT = 1.0  # the unit the camera's weight is chosen against


def model_name(weights: Path | None) -> str:
    """A shipped weights file by its name, any other by its path."""
    return weights.name if weights is not None and weights.parent == WEIGHTS_DIR else str(weights)


def paired_frames(cityscapes_root: Path, kitti_root: Path, split: str):
    """(seed, camera frame, SemanticKITTI frame index) of every validation frame present in both layouts."""
    for frame in cityscapes.list_frames(cityscapes_root, split):
        city, sequence, index = frame.name.split('_')
        if semantickitti.frame_paths(kitti_root, int(sequence), int(index))[0].exists():
            yield int(sequence), frame, int(index)


def collect(camera: CameraSegmenter, lidar: LidarSegmenter, frames, kitti_root: Path, occlusion) -> list[tuple]:
    """Per frame, on the points the camera sees: (truth, camera label, camera confidence, LiDAR label, confidence)."""
    samples, previous_seed = [], None
    for seed, frame, index in tqdm(frames, desc='validation frames'):
        rgb, _, _ = cityscapes.read_frame(frame)
        points, truth, _ = semantickitti.read_frame(kitti_root, seed, index)
        calib = semantickitti.read_calib(kitti_root, seed)
        model = CameraIntrinsics(rgb.shape[1], rgb.shape[0], calib['P2'][:3, :3])
        if seed != previous_seed:
            camera.reset()
        previous_seed = seed
        seen_by_camera = camera.process(rgb, index * FRAME_PERIOD_NS)  # gaps between exported frames reset it
        scan = lidar.process(points)
        projection = project_to_image(points[:, :3], model, calib['Tr'], occlusion)
        ignore = lidar.taxonomy.ignore_id
        seen = projection.visible & (scan.labels != ignore) & (truth != ignore)
        u, v = projection.pixels[seen].T
        samples.append((truth[seen], seen_by_camera.labels[v, u], seen_by_camera.confidence[v, u],
                        scan.labels[seen], scan.confidence[seen]))
    return samples


def score(samples, config: FusionConfig, num_classes: int) -> dict:
    matrices = {name: ConfusionMatrix(num_classes) for name in ('camera only', 'LiDAR only', 'fused')}
    for truth, camera, camera_confidence, lidar, lidar_confidence in samples:
        fused, _ = fuse_labels(lidar, lidar_confidence, camera, camera_confidence, config, num_classes)
        for name, labels in (('camera only', camera), ('LiDAR only', lidar), ('fused', fused)):
            matrices[name].update(labels, truth)
    return {name: round(100 * m.miou(), 2) for name, m in matrices.items()}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='perception-train fusion', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--cityscapes', type=Path, default=Path('data/cityscapes'))
    parser.add_argument('--semantickitti', type=Path, default=Path('data/semantickitti'))
    parser.add_argument('--split', default='val')
    parser.add_argument('--out', type=Path, default=SHIPPED_CALIBRATION)
    args = parser.parse_args(argv)
    started = time.time()
    taxonomy = load_taxonomy()
    try:
        frames = list(paired_frames(args.cityscapes, args.semantickitti, args.split))
        if not frames:
            raise ValueError(f'no frames of split {args.split!r} in both {args.cityscapes} and {args.semantickitti}')
        load_splits().check_simulated(sorted({f'sim{seed}' for seed, _, _ in frames}), args.split)
        camera_config = CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation'))
        camera = CameraSegmenter(replace(camera_config, panoptic=False))
        lidar = LidarSegmenter(LidarSegmenterConfig.from_parameters(load_parameters('lidar_segmentation')))
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train fusion: {error}', file=sys.stderr)
        return 1
    parameters = load_parameters('fusion')
    occlusion = OcclusionConfig(**section(parameters, 'occlusion'))
    samples = collect(camera, lidar, frames, args.semantickitti, occlusion)
    counts = {name: ConfusionMatrix(taxonomy.num_classes) for name in ('camera', 'lidar')}
    for truth, camera_labels, _, lidar_labels, _ in samples:
        counts['camera'].update(camera_labels, truth)
        counts['lidar'].update(lidar_labels, truth)

    def config(camera_weight: float, calibrated: bool) -> FusionConfig:
        confusion = {name: tuple(map(tuple, counts[name].matrix.tolist())) if calibrated else () for name in counts}
        calibration = FusionCalibration(camera_weight=camera_weight, lidar_weight=LIDAR_WEIGHT,
                                        camera_confusion=confusion['camera'], lidar_confusion=confusion['lidar'])
        return FusionConfig(calibration=calibration, min_split_points=parameters['fusion.min_split_points'],
                            occlusion=occlusion)

    by_weight = {w: score(samples, config(w, True), taxonomy.num_classes)['fused'] for w in CAMERA_WEIGHTS}
    chosen = max(CAMERA_WEIGHTS, key=by_weight.get)
    results = {'camera weight': chosen,
               'without calibration': score(samples, config(chosen, False), taxonomy.num_classes),
               'with calibration': score(samples, config(chosen, True), taxonomy.num_classes),
               'fused mIoU by camera weight': by_weight, 'points': int(sum(len(s[0]) for s in samples))}
    record = provenance(started, {'cityscapes': str(args.cityscapes), 'semantickitti': str(args.semantickitti),
                                  'split': args.split, 'frames': len(frames),
                                  'models': {'camera': model_name(camera.config.weights),
                                             'lidar': model_name(lidar.config.weights_path())}},
                        results)
    write_calibration(args.out, config(chosen, True).calibration, record)
    for name, values in results.items():
        print(f'{name}: {values}')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
