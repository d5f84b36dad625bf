"""perception-train camera: the camera network (backbone + semantic head) on simulated frames of training seeds.

    perception-train camera --data data/cityscapes --steps 6000 --out perception/weights/camera.pt
"""
import argparse
import shutil
from dataclasses import replace
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from perception.core.device import select_device
from perception.eval.metrics import ConfusionMatrix
from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, load_camera_net, save_camera_net
from perception.models.losses import WEIGHTING_METHODS, SegmentationLoss, class_weights
from perception.paths import WEIGHTS_DIR
from perception.sim.simulator import SensorRig
from perception.taxonomy import load_taxonomy
from perception.train.camera_data import CameraFrames, label_counts, training_augmentation
from perception.train.common import Checkpoints, check_simulated_split, provenance, write_record
from perception.train.common import train as train_loop


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train camera', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/cityscapes'), help='Cityscapes-layout root')
    parser.add_argument('--train-split', default='train')
    parser.add_argument('--val-split', default='val')
    parser.add_argument('--out', type=Path, default=WEIGHTS_DIR / 'camera.pt')
    parser.add_argument('--run-dir', type=Path, default=Path('outputs/train/camera'), help='checkpoints and logs')
    parser.add_argument('--resume', action='store_true', help='continue from RUN_DIR/last.pt')
    parser.add_argument('--steps', type=int, default=6000)
    parser.add_argument('--batch-size', type=int, default=8)
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--lr', type=float, default=2e-3)
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--loss', choices=('ce', 'focal', 'ce+dice'), default='ce')
    parser.add_argument('--class-weighting', choices=WEIGHTING_METHODS, default='inverse_sqrt')
    parser.add_argument('--widths', type=int, nargs=4, default=(32, 64, 128, 256))
    parser.add_argument('--init', type=Path, help='start from these camera weights (fine-tuning) instead of scratch')
    parser.add_argument('--val-every', type=int, default=500)
    parser.add_argument('--checkpoint-every', type=int, default=200)
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--device', default='auto')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.steps < 1 or args.batch_size < 1 or min(args.crop) < 32 or any(c % 32 for c in args.crop):
        parser.error('--steps and --batch-size must be positive, --crop sides multiples of 32')
    return args


def pad_to_stride(image: torch.Tensor, stride: int = 32) -> torch.Tensor:
    return F.pad(image, (0, -image.shape[-1] % stride, 0, -image.shape[-2] % stride), mode='replicate')


@torch.inference_mode()
def evaluate(net: CameraNet, frames: CameraFrames, device: torch.device, num_classes: int) -> ConfusionMatrix:
    """Per-frame (key-frame) semantic accuracy on unaugmented full frames."""
    net.eval()
    confusion = ConfusionMatrix(num_classes)
    for sample in DataLoader(frames, batch_size=4, num_workers=0):
        image = sample['image'].to(device)
        logits = net(pad_to_stride(image))
        logits = F.interpolate(logits, scale_factor=4, mode='bilinear', align_corners=False)
        confusion.update(logits[..., :image.shape[-2], :image.shape[-1]].argmax(1).cpu(), sample['semantic'])
    net.train()
    return confusion


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    torch.manual_seed(args.seed)
    np.random.seed(args.seed)
    taxonomy = load_taxonomy()
    rig = SensorRig.from_config()
    try:
        device = select_device(args.device)
        train = CameraFrames(args.data, args.train_split, training_augmentation(*args.crop))
        val = CameraFrames(args.data, args.val_split)
        check_simulated_split(train.sequences, 'train', rig.seeds)
        check_simulated_split(val.sequences, 'val', rig.seeds)
        init_meta = {}
        if args.init:  # a panoptic head, if any, is left out: it would not fit the retrained backbone
            loaded, init_meta = load_camera_net(args.init)
            net = CameraNet(replace(loaded.config, panoptic=None))
            net.load_state_dict(loaded.state_dict(), strict=False)
        else:
            net = CameraNet(CameraNetConfig(taxonomy.num_classes, BackboneConfig(widths=tuple(args.widths))))
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    counts = label_counts(train, taxonomy.num_classes)
    weights = class_weights(counts, args.class_weighting).to(device)
    loss_fn = SegmentationLoss(weights, focal_gamma=2.0 if args.loss == 'focal' else 0.0,
                               dice_weight=1.0 if args.loss == 'ce+dice' else 0.0)
    net = net.to(device, memory_format=torch.channels_last)  # ~15% faster convolutions on CPU (oneDNN)
    optimizer = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, args.lr, total_steps=args.steps, pct_start=0.05)
    best_path = args.run_dir / 'best.pt'
    loader = DataLoader(train, batch_size=args.batch_size, shuffle=True, drop_last=True, num_workers=args.workers,
                        persistent_workers=args.workers > 0)

    def train_step(batch) -> torch.Tensor:
        net.train()
        logits = net(batch['image'].to(device, memory_format=torch.channels_last))
        logits = F.interpolate(logits, scale_factor=4, mode='bilinear', align_corners=False)
        return loss_fn(logits, batch['semantic'].to(device))

    try:
        train_loop('camera', args.steps, loader, train_step,
                   lambda: evaluate(net, val, device, taxonomy.num_classes).miou(),
                   lambda: save_camera_net(best_path, net), Checkpoints(args.run_dir), net, optimizer, scheduler,
                   args.val_every, args.checkpoint_every, args.resume)
    except ValueError as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    net, _ = load_camera_net(best_path, device)
    confusion = evaluate(net, val, device, taxonomy.num_classes)
    results = {'val_miou': round(100 * confusion.miou(), 2),
               'val_iou': {name: round(100 * float(v), 2) for name, v in zip(taxonomy.names, confusion.iou())}}
    data = {'root': str(args.data), 'train_frames': len(train), 'train_sequences': train.sequences,
            'val_frames': len(val), 'val_sequences': val.sequences}
    meta = {'semantic': provenance(started, data, results)}
    if init_meta:
        meta['semantic']['initialised_from'] = init_meta.get('semantic', {})
    save_camera_net(args.out, net, meta)
    print(f'val mIoU {results["val_miou"]:.1f}; wrote {args.out} and {write_record(args.out, meta)}')
    shutil.copy(args.out, args.run_dir / 'final.pt')
    return 0


if __name__ == '__main__':
    sys.exit(main())
