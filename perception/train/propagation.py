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
from torch.utils.data import DataLoader, Dataset

from perception.core.camera.propagation import FlowEstimator, PropagationConfig, warp_pyramid
from perception.core.device import select_device
from perception.eval.metrics import ConfusionMatrix
from perception.io.cityscapes import list_frames, read_frame
from perception.models.camera_net import load_camera_net, save_camera_net
from perception.models.losses import SegmentationLoss, class_weights
from perception.paths import WEIGHTS_DIR
from perception.sim.simulator import SensorRig
from perception.taxonomy import load_taxonomy
from perception.train.camera_data import A, label_counts, CameraFrames
from perception.train.common import Checkpoints, check_simulated_split, provenance, write_record
from perception.train.common import train as train_loop


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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='perception-train propagation', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/video'), help='Cityscapes-layout video frames')
    parser.add_argument('--camera', type=Path, default=WEIGHTS_DIR / 'camera.pt')
    parser.add_argument('--out', type=Path, help='output weights (default: overwrite --camera)')
    parser.add_argument('--run-dir', type=Path, default=Path('outputs/train/propagation'))
    parser.add_argument('--resume', action='store_true')
    parser.add_argument('--steps', type=int, default=1500)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--max-gap', type=int, default=4, help='longest key-to-frame distance trained on')
    parser.add_argument('--lr', type=float, default=5e-4)
    parser.add_argument('--val-every', type=int, default=500)
    parser.add_argument('--checkpoint-every', type=int, default=100)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--device', default='auto')
    args = parser.parse_args(argv)
    args.out = args.out or args.camera
    started = time.time()
    torch.manual_seed(0)
    taxonomy = load_taxonomy()
    seeds = SensorRig.from_config().seeds
    try:
        device = select_device(args.device)
        net, meta = load_camera_net(args.camera, device)
        train = FramePairs(args.data, 'train', args.max_gap, tuple(args.crop))
        val = FramePairs(args.data, 'val', args.max_gap, None)
        check_simulated_split(sorted(train.sequences), 'train', seeds)
        check_simulated_split(sorted(val.sequences), 'val', seeds)
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    flow = FlowEstimator(replace(PropagationConfig(), flow_preset='medium'))
    counts = label_counts(CameraFrames(args.data, 'train'), taxonomy.num_classes)
    loss_fn = SegmentationLoss(class_weights(counts).to(device), dice_weight=1.0)
    net.backbone.requires_grad_(False)
    if net.panoptic_head is not None:
        net.panoptic_head.requires_grad_(False)
    optimizer = torch.optim.AdamW(net.semantic_head.parameters(), lr=args.lr, weight_decay=1e-4)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps, pct_start=0.05)
    best_path = args.run_dir / 'best.pt'
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)
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
        train_loop('propagation', args.steps, loader, train_step,
                   lambda: evaluate(net, val, flow, device, taxonomy.num_classes).miou(),
                   lambda: save_camera_net(best_path, net), Checkpoints(args.run_dir), net, optimizer, scheduler,
                   args.val_every, args.checkpoint_every, args.resume)
    except ValueError as error:
        print(f'perception-train propagation: {error}', file=sys.stderr)
        return 1
    net, _ = load_camera_net(best_path, device)
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
