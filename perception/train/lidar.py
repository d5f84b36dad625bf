"""perception-train lidar: a LiDAR segmentation backend on SemanticKITTI-layout sweeps of training seeds.

    perception-train lidar --backend sparse --steps 3500 --threads 1 --out perception/weights/lidar_sparse.pt
    perception-train lidar --backend pointnet2 --steps 4000 --val-every 1000 --threads 1 \
        --out perception/weights/lidar_pointnet2.pt

Each takes about an hour on one CPU core (~1.0 s and ~0.85 s a step). On a CPU shared with other jobs, more
threads than free cores make torch's spinning OpenMP threads stall each other (10x slower steps): keep
--threads at the free cores, or export OMP_WAIT_POLICY=PASSIVE before starting.

Sequences default to those under DATA whose number lies in the simulator's train / val seed ranges
(config/simulator.yaml); --train-sequences and --val-sequences name others (e.g. real SemanticKITTI 00 .. 10).
"""
import argparse
import math
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from perception.core.device import select_device
from perception.core.lidar.segmenter import BACKENDS, LidarModel, default_weights, unseen_class_mask
from perception.eval.metrics import ConfusionMatrix
from perception.io.point_clouds import read_sweep, sweep_paths
from perception.io.semantickitti import frame_paths, list_frames, read_frame
from perception.models.losses import WEIGHTING_METHODS, SegmentationLoss, class_weights, distillation_loss
from perception.models.sparse_unet import SparseUNet, SparseUNetConfig
from perception.preprocessing.voxelize import (POINT_FEATURES, PointBatch, collate, grid_chunks, valid_point_mask,
                                               voxelize)
from perception.splits import load_splits
from perception.taxonomy import Taxonomy, load_taxonomy
from perception.train.self_training import MeanTeacher, class_balanced_thresholds, pseudo_labels
from perception.train.common import (TrainRun, adamw_one_cycle, add_training_arguments, check_training_arguments,
                                     provenance, seed_everything, training_loader, write_record)

# Per backend: (voxel size or grid cell in metres, learning rate, batch size).
BACKEND_DEFAULTS = {'sparse': (0.15, 4e-3, 2), 'pointnet2': (0.1, 2e-3, 2)}
MAX_RANGE_WEIGHT = 5.0  # --range-weighting: a point at 5x the reference range or beyond weighs 5x a near one
DISTILLATION_TEMPERATURE = 2.0  # --distill: both class distributions softened by this before they are compared


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train lidar', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--backend', choices=BACKENDS, required=True)
    parser.add_argument('--data', type=Path, default=Path('data/semantickitti'), help='SemanticKITTI-layout root')
    parser.add_argument('--train-sequences', nargs='+', help='default: the simulator train seeds under DATA')
    parser.add_argument('--val-sequences', nargs='+', help='default: the simulator val seeds under DATA')
    add_training_arguments(parser, steps=3000, batch_size=None, lr=None, run_dir=None, out=None, checkpoint_every=100,
                           unset={'batch_size': 'default: 2', 'lr': 'default: 4e-3 sparse, 2e-3 pointnet2',
                                  'run_dir': 'default: outputs/train/lidar_BACKEND',
                                  'out': 'default: the shipped default weights of the backend'})
    parser.add_argument('--weight-decay', type=float, default=1e-2)
    parser.add_argument('--loss', choices=('ce', 'focal', 'ce+dice'), default='ce+dice')
    parser.add_argument('--class-weighting', choices=WEIGHTING_METHODS, default='inverse_sqrt')
    parser.add_argument('--range-weighting', type=float, default=0.0, metavar='METRES',
                        help=f'points weigh range / METRES in the cross-entropy, between 1 and {MAX_RANGE_WEIGHT:g}: '
                             'far returns (a car at 50 m is a few points) count for more than their number '
                             '(default 0: off)')
    parser.add_argument('--voxel-size', type=float,
                        help='sparse voxel edge / PointNet++ grid cell, metres (default: 0.15 sparse, 0.1 pointnet2)')
    parser.add_argument('--channels', type=int, nargs='+',
                        help=f'sparse U-Net stage widths (default: {" ".join(map(str, SparseUNetConfig.channels))}; '
                             f'with --init, narrower stages than its own slim it, keeping its strongest channels)')
    parser.add_argument('--point-channels', type=int, default=32, help='sparse point branch width (0: none)')
    parser.add_argument('--chunk-points', type=int, default=16384, help='PointNet++ points per chunk')
    parser.add_argument('--min-range', type=float, default=1.0, help='metres; closer points are not used')
    parser.add_argument('--max-range', type=float, default=100.0)
    parser.add_argument('--augment', choices=('none', 'geometry', 'sensor'), default='geometry',
                        help='none; geometry: rotation, flip, scaling, jitter; sensor: also mounting height and '
                             'tilt, density, beams and intensity, for real sensors (default: geometry)')
    parser.add_argument('--features', nargs='+', default=POINT_FEATURES, choices=POINT_FEATURES,
                        help='per-point inputs, recorded in the weights (leave out intensity for a model that '
                             'does not depend on one sensor\'s reflectance scale; default: all)')
    parser.add_argument('--init', type=Path, help='fine-tune these weights of the same backend (a feature they '
                                                  'read and --features leaves out is dropped: sparse only)')
    parser.add_argument('--distill', type=Path, metavar='WEIGHTS',
                        help='also learn the per-point class distribution of this trained model of the same voxel '
                             'size and inputs (knowledge distillation; e.g. the model --init slims)')
    parser.add_argument('--distill-weight', type=float, default=1.0, help='weight of the distillation loss')
    adapt = parser.add_argument_group('self-training on unlabelled real sweeps (--adapt, needs --init)')
    adapt.add_argument('--adapt', type=Path, nargs='+', metavar='DIR',
                       help='folders of real sweeps (.bin, .npz, .pcd): a mean teacher labels them, the student '
                            'learns its confident labels on augmented views, simulated sweeps keep it anchored')
    adapt.add_argument('--adapt-weight', type=float, default=1.0, help='weight of the real-sweep loss (default: 1)')
    adapt.add_argument('--keep-fraction', type=float, default=0.5,
                       help='share of each class\'s most confident points kept as pseudo-labels (default: 0.5)')
    adapt.add_argument('--confidence-floor', type=float, default=0.5,
                       help='no pseudo-label below this confidence, whatever the class (default: 0.5)')
    adapt.add_argument('--ema', type=float, default=0.99, help='mean-teacher EMA decay per step (default: 0.99)')
    adapt.add_argument('--threshold-every', type=int, default=100,
                       help='steps between re-estimates of the class thresholds on real sweeps (default: 100)')
    parser.add_argument('--val-frames', type=int, default=40, help='val sweeps per evaluation (0: all)')
    parser.add_argument('--threads', type=int, help='torch CPU threads of the training process')
    args = parser.parse_args(argv)
    voxel_size, lr, batch_size = BACKEND_DEFAULTS[args.backend]
    args.voxel_size = args.voxel_size or voxel_size
    args.lr = args.lr or lr
    args.batch_size = args.batch_size or batch_size
    args.out = args.out or default_weights(args.backend)
    args.run_dir = args.run_dir or Path('outputs/train') / f'lidar_{args.backend}'
    check_training_arguments(parser, args)
    if args.chunk_points < 1 or args.voxel_size <= 0 or not 0 <= args.min_range < args.max_range:
        parser.error('--chunk-points and --voxel-size must be positive, and 0 <= --min-range < --max-range')
    if args.range_weighting < 0:
        parser.error('--range-weighting must be non-negative')
    if (args.channels is not None and (not args.channels or min(args.channels) < 1)) or args.point_channels < 0:
        parser.error('--channels must be positive, --point-channels non-negative')
    if args.adapt and not args.init:
        parser.error('--adapt needs --init (the model whose labels it starts from)')
    if args.distill_weight < 0:
        parser.error('--distill-weight must be non-negative')
    return args


@dataclass(frozen=True)
class Augmentation:
    """Geometry: random yaw about the sensor's z axis, left-right mirror, isotropic scaling, per-point jitter.
    Sensor (so that no one LiDAR's traits become class cues): mounting height and tilt, point density (random
    thinning, and every 2nd or 4th beam dropped as on 32- and 16-beam sensors), and intensity (per-sweep gain,
    gamma and quantisation, returns with zero reflectance, or no intensity at all)."""

    rotate: bool = True
    flip: bool = True
    scale: tuple[float, float] = (0.95, 1.05)
    jitter: float = 0.01  # metres (standard deviation, clipped at 3 sigma)
    height_shift: float = 0.0  # metres, uniform +-: the sensor mounted higher or lower
    tilt_deg: float = 0.0  # degrees, uniform +- about x and y: mounting pitch and roll
    thinning: tuple[float, float] = (1.0, 1.0)  # share of points kept, uniform in this range
    beam_drop_p: float = 0.0  # probability of keeping only every 2nd or 4th beam
    beam_spacing_deg: float = 0.425  # elevation between beams of the sweeps trained on
    intensity_gain: float = 1.0  # per-sweep gain, log-uniform in [1/g, g]
    intensity_gamma: float = 1.0  # per-sweep gamma, log-uniform in [1/g, g]
    intensity_zero: float = 0.0  # largest share of returns set to zero reflectance
    intensity_drop_p: float = 0.0  # probability of a sweep with all intensities zero

    @classmethod
    def sensor_robust(cls) -> 'Augmentation':
        """The ranges used for the real-data recipe."""
        return cls(height_shift=0.25, tilt_deg=2.0, thinning=(0.5, 1.0), beam_drop_p=0.3, intensity_gain=3.0,
                   intensity_gamma=2.0, intensity_zero=0.15, intensity_drop_p=0.3)

    def __call__(self, points: np.ndarray, labels: np.ndarray,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        keep = self._density(points, rng)
        points, labels = points[keep], labels[keep]
        xyz = points[:, :3].astype(np.float64)
        if self.rotate:
            angle = rng.uniform(0.0, 2.0 * math.pi)
            cos, sin = math.cos(angle), math.sin(angle)
            xyz = xyz @ np.array([[cos, -sin, 0.0], [sin, cos, 0.0], [0.0, 0.0, 1.0]]).T
        if self.flip and rng.random() < 0.5:
            xyz[:, 1] = -xyz[:, 1]
        if self.tilt_deg:
            pitch, roll = np.radians(rng.uniform(-self.tilt_deg, self.tilt_deg, 2))
            cp, sp, cr, sr = math.cos(pitch), math.sin(pitch), math.cos(roll), math.sin(roll)
            tilt = np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]) @ np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]])
            xyz = xyz @ tilt.T
        xyz *= rng.uniform(*self.scale)
        xyz[:, 2] -= rng.uniform(-self.height_shift, self.height_shift)  # a higher sensor sees the ground lower
        xyz += np.clip(rng.normal(0.0, self.jitter, xyz.shape), -3 * self.jitter, 3 * self.jitter)
        return np.hstack([xyz, self._intensity(points[:, 3:4], rng)]).astype(np.float32), labels

    def _density(self, points: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        keep = rng.random(len(points)) < rng.uniform(*self.thinning)
        if rng.random() < self.beam_drop_p:
            elevation = np.degrees(np.arctan2(points[:, 2], np.linalg.norm(points[:, :2], axis=1)))
            beam = np.floor(elevation / self.beam_spacing_deg).astype(np.int64)
            every = int(rng.choice([2, 4]))
            keep &= beam % every == rng.integers(every)
        return keep

    def _intensity(self, intensity: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if (self.intensity_gain, self.intensity_gamma, self.intensity_zero, self.intensity_drop_p) == (1, 1, 0, 0):
            return intensity
        if rng.random() < self.intensity_drop_p:
            return np.zeros_like(intensity)
        log_gain, log_gamma = math.log(self.intensity_gain), math.log(self.intensity_gamma)
        intensity = np.clip(intensity, 0.0, 1.0) ** math.exp(rng.uniform(-log_gamma, log_gamma))
        intensity = np.clip(intensity * math.exp(rng.uniform(-log_gain, log_gain)), 0.0, 1.0)
        if self.intensity_zero:
            intensity[rng.random(len(intensity)) < rng.uniform(0.0, self.intensity_zero)] = 0.0
        if self.intensity_gain != 1.0:
            levels = int(rng.choice([80, 100, 255]))  # reflectance stored as 1/80 (KITTI), 1/100 or 8 bits
            intensity = np.round(intensity * levels) / levels
        return intensity


class LidarSweeps(Dataset):
    """(points (M, 4) float32, labels (M,) int64 taxonomy ids, 255 = ignore) for each labelled sweep, keeping the
    points LidarSegmenter would segment (finite, within [min_range, max_range]), augmented when asked."""

    def __init__(self, root: Path, sequences: list[str], min_range: float, max_range: float,
                 augmentation: Augmentation | None = None):
        self.root, self.sequences = Path(root), list(sequences)
        self.frames = [(sequence, frame) for sequence in self.sequences for frame in list_frames(root, sequence)
                       if frame_paths(root, sequence, frame)[1].exists()]
        if not self.frames:
            raise ValueError(f'{root}: no labelled sweeps in sequences {", ".join(self.sequences) or "(none)"}')
        self.min_range, self.max_range, self.augmentation = min_range, max_range, augmentation

    def __len__(self) -> int:
        return len(self.frames)

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        points, labels, _ = read_frame(self.root, *self.frames[index])
        keep = valid_point_mask(points, self.min_range, self.max_range)
        points, labels = points[keep], labels[keep].astype(np.int64)
        if self.augmentation is not None:
            points, labels = self.augmentation(points, labels, np.random.default_rng(int(torch.randint(2 ** 62, ()))))
        return points, labels


def simulated_sequences(root: Path, seeds: tuple[int, int]) -> list[str]:
    """Sequence folders under root whose number lies in the inclusive seed range."""
    folders = (root / 'sequences').glob('*') if (root / 'sequences').is_dir() else []
    return sorted((p.name for p in folders if p.name.isdigit() and seeds[0] <= int(p.name) <= seeds[1]), key=int)


def label_counts(sweeps: LidarSweeps, num_classes: int, samples: int = 200) -> np.ndarray:
    """Per-class point counts over an even sample of the (unaugmented) sweeps."""
    counts = np.zeros(num_classes, np.int64)
    for index in np.linspace(0, len(sweeps) - 1, min(samples, len(sweeps))).astype(int):
        _, labels, _ = read_frame(sweeps.root, *sweeps.frames[index])
        counts += np.bincount(labels, minlength=256)[:num_classes]
    return counts


class TrainingBatch:
    """DataLoader collate: sweeps -> the backend's PointBatch (sparse: voxelised sweeps; PointNet++: one random
    grid-sampled chunk per sweep), built with the same functions as LidarModel.prepare."""

    def __init__(self, backend: str, voxel_size: float, chunk_points: int, features=POINT_FEATURES):
        self.backend, self.voxel_size, self.chunk_points = backend, voxel_size, chunk_points
        self.features = tuple(features)

    def __call__(self, samples) -> PointBatch:
        samples = [(points, labels) for points, labels in samples if len(points)]
        if not samples:
            raise ValueError('a training batch without points: are --min-range / --max-range right?')
        clouds, labels = zip(*samples)
        if self.backend == 'sparse':
            return voxelize(collate(clouds, labels, self.features), self.voxel_size)
        chosen = [grid_chunks(torch.from_numpy(cloud[:, :3]), self.voxel_size, self.chunk_points).index[0].numpy()
                  for cloud in clouds]
        return collate([c[i] for c, i in zip(clouds, chosen)], [lab[i] for lab, i in zip(labels, chosen)],
                       self.features)


class RealSweepAdaptation:
    """The real-sweep half of a self-training step: the mean teacher labels one real sweep, confident labels
    (class-balanced thresholds, re-estimated every --threshold-every steps) train the student on a
    sensor-augmented view of it."""

    def __init__(self, args, student: LidarModel, taxonomy: Taxonomy):
        self.args, self.student, self.taxonomy = args, student, taxonomy
        self.teacher = MeanTeacher(student.network, args.ema)
        self.teacher_model = LidarModel(student.backend, self.teacher.network, student.voxel_size,
                                        student.chunk_points, student.features)
        self.unseen = unseen_class_mask(taxonomy, student.device)
        self.augmentation = Augmentation.sensor_robust()
        self.batch = TrainingBatch(student.backend, student.voxel_size, student.chunk_points, student.features)
        self.loss_fn = SegmentationLoss()
        self.rng = np.random.default_rng(args.seed)
        self.thresholds = torch.ones(taxonomy.num_classes)
        self.estimated_at = None

    def _sweep(self, path) -> np.ndarray:
        points = read_sweep(path)
        return points[valid_point_mask(points, self.args.min_range, self.args.max_range)]

    @torch.no_grad()
    def _teacher_probabilities(self, points: np.ndarray) -> torch.Tensor:
        logits = self.teacher_model.logits(torch.from_numpy(points).to(self.student.device))
        return logits.masked_fill(self.unseen, float('-inf')).softmax(dim=1)

    def _estimate_thresholds(self, samples: int = 8) -> None:
        confidence, predicted = [], []
        for path in self.rng.choice(self.args.adapt_sweeps, min(samples, len(self.args.adapt_sweeps)), False):
            top = self._teacher_probabilities(self._sweep(path)).max(dim=1)
            confidence.append(top.values.cpu().numpy())
            predicted.append(top.indices.cpu().numpy())
        self.thresholds = torch.from_numpy(class_balanced_thresholds(
            np.concatenate(confidence), np.concatenate(predicted), self.taxonomy.num_classes,
            self.args.keep_fraction, self.args.confidence_floor)).float().to(self.student.device)

    def loss(self, step: int) -> torch.Tensor:
        self.teacher.update(self.student.network)
        if self.estimated_at is None or step - self.estimated_at >= self.args.threshold_every:
            self._estimate_thresholds()
            self.estimated_at = step
        points = self._sweep(self.args.adapt_sweeps[self.rng.integers(len(self.args.adapt_sweeps))])
        labels = pseudo_labels(self._teacher_probabilities(points), self.thresholds, self.taxonomy.ignore_id)
        view, view_labels = self.augmentation(points, labels.cpu().numpy(), self.rng)
        batch = self.batch([(view, view_labels)]).to(self.student.device)
        return self.loss_fn(self.student.network(batch), batch.label)


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)  # the training process owns the cores; a threaded worker would oversubscribe them


@torch.inference_mode()
def evaluate(model: LidarModel, sweeps: LidarSweeps, taxonomy: Taxonomy, max_frames: int) -> ConfusionMatrix:
    """Full-sweep semantic accuracy on an even sample of unaugmented val sweeps, inferred as LidarSegmenter does."""
    model.eval()
    unseen = unseen_class_mask(taxonomy, model.device)
    confusion = ConfusionMatrix(taxonomy.num_classes)
    count = len(sweeps) if max_frames <= 0 else min(max_frames, len(sweeps))
    for index in np.linspace(0, len(sweeps) - 1, count).astype(int):
        points, labels = sweeps[index]
        if len(points):
            logits = model.logits(torch.from_numpy(points).to(model.device)).masked_fill(unseen, float('-inf'))
            confusion.update(logits.argmax(dim=1).cpu(), labels)
    model.network.train()
    return confusion


def range_weights(coord: torch.Tensor, metres: float) -> torch.Tensor:
    """(N,) loss weights of points (N, 3) in the sensor frame: horizontal range / `metres`, clamped to
    [1, MAX_RANGE_WEIGHT]."""
    return (coord[:, :2].norm(dim=1) / metres).clamp(1.0, MAX_RANGE_WEIGHT)


def _build_model(args, num_classes: int) -> LidarModel:
    if args.init:
        return _fine_tuned(args)
    if args.backend == 'sparse':
        config = {'num_classes': num_classes, 'channels': tuple(args.channels or SparseUNetConfig.channels),
                  'point_channels': args.point_channels}
        return LidarModel.build('sparse', config, args.voxel_size, features=args.features)
    return LidarModel.build('pointnet2', {'num_classes': num_classes}, args.voxel_size, args.chunk_points,
                            features=args.features)


def _distillation_teacher(args, student: LidarModel, device) -> LidarModel:
    """The --distill model for inference; ValueError unless it reads the student's voxels and features."""
    teacher = LidarModel.load(args.distill, device)
    reads = (teacher.backend, teacher.voxel_size, teacher.features)
    if reads != (student.backend, student.voxel_size, student.features):
        raise ValueError(f'{args.distill} ({teacher.backend}, {teacher.voxel_size} m, {" ".join(teacher.features)}) '
                         f'does not read what the student reads ({student.backend}, {student.voxel_size} m, '
                         f'{" ".join(student.features)})')
    return teacher.for_inference()


def _fine_tuned(args) -> LidarModel:
    """The --init weights as a model reading --features (its own voxel size and hyper-parameters)."""
    trained = LidarModel.load(args.init)
    if trained.backend != args.backend:
        raise ValueError(f'{args.init} holds a {trained.backend} model, not {args.backend}')
    features = tuple(args.features)
    missing = [f for f in features if f not in trained.features]
    if missing:
        raise ValueError(f'{args.init} reads {trained.features}: cannot fine-tune it to read {features}')
    args.voxel_size, args.chunk_points = trained.voxel_size, trained.chunk_points
    config = {k: v for k, v in vars(trained.network.config).items() if k != 'in_channels'}
    state = trained.network.state_dict()
    if args.backend == 'sparse' and args.channels and tuple(args.channels) != config['channels']:
        state = SparseUNet.slimmed_state_dict(state, config['channels'], tuple(args.channels))
        config['channels'] = tuple(args.channels)
    model = LidarModel.build(args.backend, config, trained.voxel_size, trained.chunk_points, features)
    if features != trained.features:
        state = type(trained.network).select_input_features(state, [trained.features.index(f) for f in features],
                                                            len(trained.features))
    model.network.load_state_dict(state)
    return model


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    taxonomy = load_taxonomy()
    splits = load_splits()
    train_sequences = args.train_sequences or simulated_sequences(args.data, splits.train)
    val_sequences = args.val_sequences or simulated_sequences(args.data, splits.val)
    try:
        device = select_device(args.device)
        for sequences, split in ((train_sequences, 'train'), (val_sequences, 'val')):
            splits.check_simulated([f'sim{int(s)}' for s in sequences
                                    if (args.data / 'meta' / f'sim{int(s)}.yaml').exists()], split)
        augmentation = {'none': None, 'geometry': Augmentation(),
                        'sensor': Augmentation.sensor_robust()}[args.augment]
        train = LidarSweeps(args.data, train_sequences, args.min_range, args.max_range, augmentation)
        val = LidarSweeps(args.data, val_sequences, args.min_range, args.max_range)
        model = _build_model(args, taxonomy.num_classes).to(device)
        weights = class_weights(label_counts(train, taxonomy.num_classes), args.class_weighting).to(device)
        teacher = _distillation_teacher(args, model, device) if args.distill else None
        if args.adapt:
            real_sweeps = [path for folder in args.adapt for path in sweep_paths(folder)]
            if not real_sweeps:
                raise ValueError(f'no .bin, .npz or .pcd sweeps in {" ".join(map(str, args.adapt))}')
            args.adapt_sweeps = real_sweeps
    except (ValueError, FileNotFoundError, NotADirectoryError, ImportError) as error:
        print(f'perception-train lidar: {error}', file=sys.stderr)
        return 1
    loss_fn = SegmentationLoss(weights, focal_gamma=2.0 if args.loss == 'focal' else 0.0,
                               dice_weight=1.0 if args.loss == 'ce+dice' else 0.0)
    network = model.network
    optimizer, scheduler = adamw_one_cycle(network.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                                           steps=args.steps)
    run = TrainRun.from_args(f'lidar {args.backend}', args)
    loader = training_loader(train, batch_size=args.batch_size, workers=args.workers,
                             drop_last=len(train) >= args.batch_size,
                             collate_fn=TrainingBatch(args.backend, args.voxel_size, args.chunk_points, model.features),
                             worker_init_fn=_single_thread_worker)

    adaptation = RealSweepAdaptation(args, model, taxonomy) if args.adapt else None

    def train_step(batch) -> torch.Tensor:
        network.train()
        batch = batch.to(device)
        weight = range_weights(batch.coord, args.range_weighting) if args.range_weighting else None
        logits = network(batch)
        loss = loss_fn(logits, batch.label, weight)
        if teacher is not None:
            with torch.no_grad():
                target = teacher.network(batch)
            loss = loss + args.distill_weight * distillation_loss(logits, target, DISTILLATION_TEMPERATURE)
        if adaptation is not None:
            loss = loss + args.adapt_weight * adaptation.loss(scheduler.last_epoch)
        return loss

    try:
        run.fit(model=network, optimizer=optimizer, scheduler=scheduler, loader=loader, compute_loss=train_step,
                validate=lambda: evaluate(model, val, taxonomy, args.val_frames).miou(),
                save_best=lambda: model.save(run.best_path, taxonomy.names))
    except ValueError as error:
        print(f'perception-train lidar: {error}', file=sys.stderr)
        return 1

    model = LidarModel.load(run.best_path, device)
    confusion = evaluate(model, val, taxonomy, args.val_frames)
    results = {'val_frames': len(val) if args.val_frames <= 0 else min(args.val_frames, len(val)),
               'val_miou': round(100 * confusion.miou(), 2),
               'val_iou': {name: round(100 * float(v), 2) for name, v in zip(taxonomy.names, confusion.iou())}}
    data = {'root': str(args.data), 'train_frames': len(train), 'train_sequences': train.sequences,
            'val_frames': len(val), 'val_sequences': val.sequences, 'augmentation': args.augment}
    if adaptation is not None:
        data['adapted_on'] = {'folders': [str(folder) for folder in args.adapt], 'sweeps': len(args.adapt_sweeps),
                              'labels': 'none (self-training)', 'keep_fraction': args.keep_fraction,
                              'confidence_floor': args.confidence_floor, 'ema': args.ema,
                              'last_thresholds': {name: round(float(t), 3) for name, t in
                                                  zip(taxonomy.names, adaptation.thresholds.cpu())}}
    meta = provenance(started, data, results)
    if args.distill:
        meta['distilled_from'] = {'weights': str(args.distill), 'weight': args.distill_weight,
                                  'temperature': DISTILLATION_TEMPERATURE}
    if args.init:
        initial = LidarModel.load(args.init)
        meta['initialised_from'] = {'weights': str(args.init), 'model_config': asdict(initial.network.config),
                                    'record': initial.record}
    model.save(args.out, taxonomy.names, meta)
    print(f'val mIoU {results["val_miou"]:.1f}; wrote {args.out} and {write_record(args.out, meta)}')
    shutil.copy(args.out, args.run_dir / 'final.pt')
    return 0


if __name__ == '__main__':
    sys.exit(main())
