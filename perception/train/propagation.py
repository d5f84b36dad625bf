"""perception-train propagation: teach the semantic head to read propagated features (as Deep Feature Flow trains
its task head on warped features). The backbone stays frozen; each sample is a key frame and a frame 0..max-gap
frames later of a simulated video: the key frame's pyramid is warped along DIS flow to the later frame and the
head learns that frame's labels. Gap 0 keeps key frames as accurate as before.

    perception-sim --split train --sequences 40 --frames 24 --cityscapes data/video     # consecutive frames
    perception-sim --split val --sequences 4 --frames 30 --cityscapes data/video
    perception-train propagation --data data/video --camera perception/weights/camera.pt
"""
import argparse
import sys
import time
from collections import defaultdict
from dataclasses import replace
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
from perception.models.losses import SegmentationLoss, class_weights
from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.camera_data import A, label_counts, CameraFrames
from perception.train.common import (TrainRun, adamw_one_cycle, add_training_arguments, check_training_arguments,
                                     provenance, seed_everything, training_loader, write_record)


class FramePairs(Dataset):
    """(key image, later image, later labels) of one drive, the later frame 0..max_gap frames after the key."""

    def __init__(self, root, split: str, max_gap: int, crop: tuple[int, int] | None):
        self.sequences = defaultdict(list)
        for frame in list_frames(root, split):
            self.sequences[frame.image.parent.name].append(frame)
        self.items = [(name, i) for name, frames in self.sequences.items() for i in range(len(frames))]
        self.max_gap = max_gap
        self.augmentation = None if crop is None else A.Compose(
            [A.HorizontalFlip(p=0.5), A.RandomCrop(*crop),
             A.ColorJitter(brightness=0.3, contrast=0.3, saturation=0.3, hue=0.03, p=0.8)],
            additional_targets={'key': 'image'})

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        name, current = self.items[index]
        gap = np.random.randint(0, min(self.max_gap, current) + 1)
        key_rgb, _, _ = read_frame(self.sequences[name][current - gap])
        rgb, semantic, _ = read_frame(self.sequences[name][current])
        if self.augmentation is not None:
            out = self.augmentation(image=rgb, key=key_rgb, mask=semantic)
            rgb, key_rgb, semantic = out['image'], out['key'], out['mask']
        as_tensor = (lambda a: torch.from_numpy(np.ascontiguousarray(a)).permute(2, 0, 1).float() / 255.0)
        return {'key': as_tensor(key_rgb), 'image': as_tensor(rgb), 'gap': gap,
                'semantic': torch.from_numpy(np.ascontiguousarray(semantic)).long()}


def propagated_pyramid(pyramid: dict, key: torch.Tensor, current: torch.Tensor, flow: FlowEstimator) -> dict:
    """The key frames' pyramids (of images `key`) warped to the current frames (B, 3, H, W in [0, 1])."""
    with torch.no_grad():
        warped = []
        for b in range(key.shape[0]):
            grey = [cv2.cvtColor((image[b].permute(1, 2, 0).cpu().numpy() * 255).astype(np.uint8),
                                 cv2.COLOR_RGB2GRAY) for image in (current, key)]
            level = {name: features[b:b + 1] for name, features in pyramid.items()}
            warped.append(warp_pyramid(level, flow(*grey)))
        return {name: torch.cat([w[name] for w in warped]) for name in pyramid}


@torch.inference_mode()
def evaluate(net, pairs: FramePairs, flow: FlowEstimator, device, num_classes: int) -> ConfusionMatrix:
    """mIoU over key frames every max_gap + 1 frames and the frames propagated from them (a fixed key-frame
    interval of max_gap + 1)."""
    net.eval()
    confusion = ConfusionMatrix(num_classes)
    for name, frames in pairs.sequences.items():
        for key_index in range(0, len(frames) - pairs.max_gap, pairs.max_gap + 1):
            key = torch.from_numpy(read_frame(frames[key_index])[0]).permute(2, 0, 1)[None].float().to(device) / 255
            pyramid = net.features(key)  # once per key frame, as at inference
            for current_index in range(key_index, key_index + pairs.max_gap + 1):
                rgb, semantic, _ = read_frame(frames[current_index])
                current = torch.from_numpy(rgb).permute(2, 0, 1)[None].float().to(device) / 255
                logits = net.semantic(propagated_pyramid(pyramid, key, current, flow))
                logits = F.interpolate(logits, size=semantic.shape, mode='bilinear', align_corners=False)
                confusion.update(logits.argmax(1)[0].cpu(), semantic)
    return confusion


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train propagation', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/video'), help='Cityscapes-layout video frames')
    parser.add_argument('--camera', type=Path, default=WEIGHTS_DIR / 'camera.pt')
    add_training_arguments(parser, steps=1500, batch_size=8, lr=5e-4, run_dir=Path('outputs/train/propagation'),
                           out=None, checkpoint_every=100, unset={'out': 'default: overwrite --camera'})
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--max-gap', type=int, default=4, help='longest key-to-frame distance trained on')
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    args.out = args.out or args.camera
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    seed_everything(args.seed)
    taxonomy = load_taxonomy()
    splits = load_splits()
    try:
        device = select_device(args.device)
        net, meta = load_camera_net(args.camera, device)
        train = FramePairs(args.data, 'train', args.max_gap, tuple(args.crop))
        val = FramePairs(args.data, 'val', args.max_gap, None)
        splits.check_simulated(sorted(train.sequences), 'train')
        splits.check_simulated(sorted(val.sequences), 'val')
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    flow = FlowEstimator(replace(PropagationConfig(), flow_preset='medium'))
    counts = label_counts(CameraFrames(args.data, 'train'), taxonomy.num_classes)
    loss_fn = SegmentationLoss(class_weights(counts).to(device), dice_weight=1.0)
    net.backbone.requires_grad_(False)
    if net.panoptic_head is not None:
        net.panoptic_head.requires_grad_(False)
    optimizer, scheduler = adamw_one_cycle(net.semantic_head.parameters(), lr=args.lr, weight_decay=1e-4,
                                           steps=args.steps)
    run = TrainRun.from_args('propagation', args)
    before = evaluate(net, val, flow, device, taxonomy.num_classes).miou()

    def train_step(batch) -> torch.Tensor:
        net.eval()  # frozen backbone statistics; the head's batch norm learns
        net.semantic_head.train()
        key = batch['key'].to(device)
        with torch.no_grad():
            pyramid = propagated_pyramid(net.features(key), key, batch['image'].to(device), flow)
        logits = F.interpolate(net.semantic(pyramid), size=batch['semantic'].shape[-2:], mode='bilinear',
                               align_corners=False)
        return loss_fn(logits, batch['semantic'].to(device))

    try:
        run.fit(model=net, optimizer=optimizer, scheduler=scheduler,
                loader=training_loader(train, batch_size=args.batch_size, workers=args.workers),
                compute_loss=train_step, validate=lambda: evaluate(net, val, flow, device, taxonomy.num_classes).miou(),
                save_best=lambda: save_camera_net(run.best_path, net))
    except ValueError as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    net, _ = load_camera_net(run.best_path, device)
    after = evaluate(net, val, flow, device, taxonomy.num_classes).miou()
    results = {'interval': args.max_gap + 1, 'val_miou_at_interval_before': round(100 * before, 2),
               'val_miou_at_interval_after': round(100 * after, 2)}
    data = {'root': str(args.data), 'train_pairs': len(train), 'val_sequences': sorted(val.sequences)}
    meta = {**meta, 'propagation': provenance(started, data, results)}
    save_camera_net(args.out, net, meta)
    print(f'val mIoU at key-frame interval {args.max_gap + 1}: {results["val_miou_at_interval_before"]} -> '
          f'{results["val_miou_at_interval_after"]}; wrote {args.out} and {write_record(args.out, meta)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
