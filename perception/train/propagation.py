"""perception-train propagation: train the camera's correction branch (Accel-style, models/correction.py) on
consecutive simulated frames. Each sample is a key frame and a frame 1..max-gap frames later: the key frame's
pyramid is warped along DIS flow to the later frame and the branch, reading the later frame itself, corrects it.
The backbone and both heads stay frozen; the loss is the semantic head's on the later frame's labels plus the
distance of the corrected levels to the later frame's own pyramid (so the panoptic head, which reads the same
pyramid, gains too).

    perception-sim --randomise --split train --sequences 24 --frames 20 --cityscapes data/video   # consecutive frames
    perception-sim --randomise --split val --sequences 4 --frames 30 --cityscapes data/video
    perception-train propagation --data data/video --camera perception/weights/camera.pt
"""
import argparse
import sys
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from perception.core.camera.propagation import FlowEstimator, PropagationConfig, warp_pyramid
from perception.core.device import select_device
from perception.eval.metrics import ConfusionMatrix
from perception.io.cityscapes import list_frames, read_frame
from perception.models.camera_net import load_camera_net, save_camera_net
from perception.models.correction import CORRECTED_LEVELS, CorrectionConfig
from perception.models.losses import SegmentationLoss, class_weights
from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.camera_data import A, label_counts, CameraFrames
from perception.train.camera_finetune import UnlabelledImages, endless
from perception.train.common import (TrainRun, adamw_one_cycle, add_training_arguments, check_training_arguments,
                                     provenance, seed_everything, training_loader, write_record)


class FramePairs(Dataset):
    """(key image, later image, later labels) of one drive, the later frame 1..max_gap frames after the key."""

    def __init__(self, root, split: str, max_gap: int, crop: tuple[int, int] | None):
        self.sequences = defaultdict(list)
        for frame in list_frames(root, split):
            self.sequences[frame.image.parent.name].append(frame)
        self.items = [(name, i) for name, frames in self.sequences.items() for i in range(1, len(frames))]
        self.max_gap = max_gap
        self.augmentation = None if crop is None else A.Compose(
            [A.HorizontalFlip(p=0.5), A.RandomCrop(*crop),
             A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8)],
            additional_targets={'key': 'image'})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        name, current = self.items[index]
        gap = np.random.randint(1, min(self.max_gap, current) + 1)
        key_rgb, _, _ = read_frame(self.sequences[name][current - gap])
        rgb, semantic, _ = read_frame(self.sequences[name][current])
        if self.augmentation is not None:
            out = self.augmentation(image=rgb, key=key_rgb, mask=semantic)
            rgb, key_rgb, semantic = out['image'], out['key'], out['mask']
        as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0)
        return {'key': as_tensor(key_rgb), 'image': as_tensor(rgb), 'gap': gap,
                'semantic': torch.from_numpy(np.ascontiguousarray(semantic)).long()}


class RealFramePairs(Dataset):
    """Unlabelled (key image, later image) pairs of real video: consecutive frames of the videos and image folders
    given (images in name order), resized to `width`, the later frame 1..max_gap frames after the key, one crop
    and flip for both. The branch learns on them to match the later frame's own features (no labels needed)."""

    def __init__(self, folders, max_gap: int, crop: tuple[int, int], width: int = 640):
        self.frames = UnlabelledImages(folders, video_stride=1)
        sequence = [path if frame is not None else path.parent for path, frame in self.frames.items]
        self.items = [i for i in range(1, len(sequence)) if sequence[i] == sequence[i - 1]]
        self.sequence, self.max_gap, self.crop, self.width = sequence, max_gap, crop, width
        if not self.items:
            raise ValueError(f'no consecutive frames in {" ".join(map(str, folders))}')

    def __len__(self) -> int:
        return len(self.items)

    def _resized(self, index: int) -> np.ndarray:
        rgb = self.frames[index]
        height = max(self.crop[0], round(rgb.shape[0] * self.width / rgb.shape[1]))
        return cv2.resize(rgb, (self.width, height), interpolation=cv2.INTER_AREA)

    def __getitem__(self, index: int) -> dict:
        current = self.items[index]
        gap = 1
        while gap < self.max_gap and current - gap - 1 >= 0 and self.sequence[current - gap - 1] == \
                self.sequence[current] and np.random.rand() < 0.5:
            gap += 1
        key_rgb, rgb = self._resized(current - gap), self._resized(current)
        top = np.random.randint(0, rgb.shape[0] - self.crop[0] + 1)
        left = np.random.randint(0, rgb.shape[1] - self.crop[1] + 1)
        flip = np.random.rand() < 0.5
        as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(
            a[top:top + self.crop[0], left:left + self.crop[1]][:, ::-1 if flip else 1])).permute(2, 0, 1).float()
            / 255.0)
        return {'key': as_tensor(key_rgb), 'image': as_tensor(rgb)}


def grey_image(image: torch.Tensor) -> np.ndarray:
    """(3, H, W) rgb in [0, 1] -> (H, W) uint8 grey, as the segmenter computes flow on."""
    return cv2.cvtColor((image.permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8), cv2.COLOR_RGB2GRAY)


def propagated_pyramid(net, pyramid: dict, key: torch.Tensor, current: torch.Tensor, flow: FlowEstimator,
                       correct: bool) -> dict:
    """The key frames' pyramids (of images `key`) warped to the current frames (B, 3, H, W in [0, 1]), corrected
    by the branch when `correct` (gradients flow into the branch only)."""
    with torch.no_grad():
        warped = []
        for b in range(key.shape[0]):
            level = {name: features[b:b + 1] for name, features in pyramid.items()}
            warped.append(warp_pyramid(level, flow(grey_image(current[b]), grey_image(key[b])),
                                       levels=CORRECTED_LEVELS if correct else None))
        warped = {name: torch.cat([w[name] for w in warped]) for name in warped[0]}
    return net.corrected(current, warped) if correct else warped


@torch.inference_mode()
def evaluate(net, pairs: FramePairs, flow: FlowEstimator, device, num_classes: int, correct: bool) -> ConfusionMatrix:
    """mIoU over the frames propagated from key frames every max_gap + 1 frames (a fixed key-frame interval of
    max_gap + 1; the key frames themselves are left out: they do not change)."""
    net.eval()
    confusion = ConfusionMatrix(num_classes)
    for name, frames in pairs.sequences.items():
        for key_index in range(0, len(frames) - pairs.max_gap, pairs.max_gap + 1):
            key = torch.from_numpy(read_frame(frames[key_index])[0]).permute(2, 0, 1)[None].float().to(device) / 255
            pyramid = net.features(key)  # once per key frame, as at inference
            for current_index in range(key_index + 1, key_index + pairs.max_gap + 1):
                rgb, semantic, _ = read_frame(frames[current_index])
                current = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().to(device) / 255
                logits = net.semantic(propagated_pyramid(net, pyramid, key, current, flow, correct))
                logits = F.interpolate(logits, size=semantic.shape, mode='bilinear', align_corners=False)
                confusion.update(logits.argmax(1)[0].cpu(), semantic)
    return confusion


def feature_distance(corrected: dict, target: dict) -> torch.Tensor:
    """Mean over the corrected levels of the squared distance to the frame's own features, per level relative to
    the target's variance (so every level counts alike)."""
    return torch.stack([F.mse_loss(corrected[level], target[level]) / target[level].var().clamp_min(1e-6)
                        for level in CORRECTED_LEVELS]).mean()


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train propagation', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/video'), help='Cityscapes-layout video frames')
    parser.add_argument('--camera', type=Path, default=WEIGHTS_DIR / 'camera.pt')
    add_training_arguments(parser, steps=1500, batch_size=8, lr=2e-3, run_dir=Path('outputs/train/propagation'),
                           out=None, checkpoint_every=100, unset={'out': 'default: overwrite --camera'})
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--max-gap', type=int, default=4, help='longest key-to-frame distance trained on')
    parser.add_argument('--width', type=int, default=CorrectionConfig.channels,
                        help='channels of a new correction branch (one already in --camera is trained further)')
    parser.add_argument('--feature-weight', type=float, default=1.0,
                        help='weight of the distance to the frame\'s own features beside the semantic loss')
    parser.add_argument('--real', type=Path, nargs='+', metavar='DIR',
                        help='folders of real video (videos, or images in name order): the branch also learns to '
                             'match their frames\' own features, so that it holds on real cameras')
    parser.add_argument('--real-weight', type=float, default=1.0, help='weight of the real-video loss')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (0: torch default)')
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    args.out = args.out or args.camera
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    seed_everything(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    taxonomy = load_taxonomy()
    splits = load_splits()
    try:
        device = select_device(args.device)
        net, meta = load_camera_net(args.camera, device)
        train = FramePairs(args.data, 'train', args.max_gap, tuple(args.crop))
        val = FramePairs(args.data, 'val', args.max_gap, None)
        splits.check_simulated(sorted(train.sequences), 'train')
        splits.check_simulated(sorted(val.sequences), 'val')
        real = RealFramePairs(args.real, args.max_gap, tuple(args.crop)) if args.real else None
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    real_batches = endless(training_loader(real, batch_size=args.batch_size, workers=args.workers)) if real else None
    if net.correction is None:
        net = net.with_parts(correction=CorrectionConfig(channels=args.width)).to(device)
    flow = FlowEstimator(PropagationConfig())
    counts = label_counts(CameraFrames(args.data, 'train'), taxonomy.num_classes)
    loss_fn = SegmentationLoss(class_weights(counts).to(device))
    net.requires_grad_(False)
    net.correction.requires_grad_(True)
    optimizer, scheduler = adamw_one_cycle(net.correction.parameters(), lr=args.lr, weight_decay=1e-4,
                                           steps=args.steps)
    run = TrainRun.from_args('propagation', args)
    warped_only = evaluate(net, val, flow, device, taxonomy.num_classes, correct=False).miou()

    def corrected_pair(pair: dict) -> tuple[dict, torch.Tensor]:
        """The later frames' corrected pyramids and their distance to the frames' own features."""
        key, current = pair['key'].to(device), pair['image'].to(device)
        with torch.no_grad():
            key_pyramid, own_pyramid = net.features(key), net.features(current)
        corrected = propagated_pyramid(net, key_pyramid, key, current, flow, correct=True)
        return corrected, feature_distance(corrected, own_pyramid)

    def train_step(batch) -> torch.Tensor:
        net.eval()  # frozen statistics everywhere but in the branch
        net.correction.train()
        corrected, distance = corrected_pair(batch)
        logits = F.interpolate(net.semantic(corrected), size=batch['semantic'].shape[-2:], mode='bilinear',
                               align_corners=False)
        loss = loss_fn(logits, batch['semantic'].to(device)) + args.feature_weight * distance
        if real_batches is not None:
            loss = loss + args.real_weight * corrected_pair(next(real_batches))[1]
        return loss

    try:
        run.fit(model=net.correction, optimizer=optimizer, scheduler=scheduler,
                loader=training_loader(train, batch_size=args.batch_size, workers=args.workers),
                compute_loss=train_step,
                validate=lambda: evaluate(net, val, flow, device, taxonomy.num_classes, correct=True).miou(),
                save_best=lambda: save_camera_net(run.best_path, net))
    except ValueError as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    net, _ = load_camera_net(run.best_path, device)
    corrected = evaluate(net, val, flow, device, taxonomy.num_classes, correct=True).miou()
    results = {'interval': args.max_gap + 1, 'val_miou_propagated_warped': round(100 * warped_only, 2),
               'val_miou_propagated_corrected': round(100 * corrected, 2)}
    data = {'root': str(args.data), 'train_pairs': len(train), 'val_sequences': sorted(val.sequences)}
    if real is not None:
        data['real_video'] = {'folders': [str(folder) for folder in args.real], 'pairs': len(real)}
    meta = {**meta, 'correction': provenance(started, data, results)}
    save_camera_net(args.out, net, meta)
    print(f'val mIoU of propagated frames at key-frame interval {args.max_gap + 1}: warped '
          f'{results["val_miou_propagated_warped"]}, corrected {results["val_miou_propagated_corrected"]}; wrote '
          f'{args.out} and {write_record(args.out, meta)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
