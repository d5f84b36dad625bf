"""perception-train camera: the camera network (backbone + semantic head) on simulated frames of training seeds
(or, with --finetune, transferred to a real labelled set: see camera_finetune.py).

    perception-train camera --data data/cityscapes --steps 6000 --out perception/weights/camera.pt
"""
import argparse
import shutil
from dataclasses import replace
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from perception.core.device import select_device
from perception.eval.metrics import ConfusionMatrix
from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, load_camera_net, save_camera_net
from perception.models.losses import WEIGHTING_METHODS, SegmentationLoss, class_weights
from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.camera_data import CameraFrames, label_counts, training_augmentation
from perception.train.common import (TrainRun, adamw_one_cycle, add_training_arguments, check_training_arguments,
                                     provenance, seed_everything, training_loader, write_record)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train camera', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/cityscapes'), help='Cityscapes-layout root')
    parser.add_argument('--train-split', default='train')
    parser.add_argument('--val-split', default='val')
    add_training_arguments(parser, steps=6000, batch_size=8, lr=2e-3, run_dir=Path('outputs/train/camera'),
                           out=WEIGHTS_DIR / 'camera.pt', checkpoint_every=200)
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--weight-decay', type=float, default=1e-4)
    parser.add_argument('--loss', choices=('ce', 'focal', 'ce+dice'), default='ce')
    parser.add_argument('--class-weighting', choices=WEIGHTING_METHODS, default='inverse_sqrt')
    parser.add_argument('--widths', type=int, nargs=4, default=(32, 64, 128, 256))
    parser.add_argument('--init', type=Path, help='start from these camera weights (fine-tuning) instead of scratch')
    from perception.train.camera_finetune import add_finetune_arguments  # it builds on this module
    add_finetune_arguments(parser)
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    if min(args.crop) < 32 or any(c % 32 for c in args.crop):
        parser.error('--crop sides must be positive multiples of 32')
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
    if args.finetune or args.adapt:
        from perception.train.camera_finetune import main as finetune
        return finetune(args)
    started = time.time()
    seed_everything(args.seed)
    taxonomy = load_taxonomy()
    splits = load_splits()
    try:
        device = select_device(args.device)
        train = CameraFrames(args.data, args.train_split, training_augmentation(*args.crop))
        val = CameraFrames(args.data, args.val_split)
        splits.check_simulated(train.sequences, 'train')
        splits.check_simulated(val.sequences, 'val')
        init_meta = {}
        if args.init:  # a panoptic head, if any, is left out: it would not fit the retrained backbone
            loaded, init_meta = load_camera_net(args.init)
            net = CameraNet(replace(loaded.config, panoptic=None))
            net.load_state_dict(loaded.state_dict(), strict=False)
        else:
            backbone = BackboneConfig(widths=tuple(args.widths))
            net = CameraNet(CameraNetConfig(num_classes=taxonomy.num_classes, backbone=backbone))
    except (ValueError, FileNotFoundError) as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    counts = label_counts(train, taxonomy.num_classes)
    weights = class_weights(counts, args.class_weighting).to(device)
    loss_fn = SegmentationLoss(weights, focal_gamma=2.0 if args.loss == 'focal' else 0.0,
                               dice_weight=1.0 if args.loss == 'ce+dice' else 0.0)
    net = net.to(device, memory_format=torch.channels_last)  # ~15% faster convolutions on CPU (oneDNN)
    optimizer, scheduler = adamw_one_cycle(net.parameters(), lr=args.lr, weight_decay=args.weight_decay,
                                           steps=args.steps)
    run = TrainRun.from_args('camera', args)

    def train_step(batch) -> torch.Tensor:
        net.train()
        logits = net(batch['image'].to(device, memory_format=torch.channels_last))
        logits = F.interpolate(logits, scale_factor=4, mode='bilinear', align_corners=False)
        return loss_fn(logits, batch['semantic'].to(device))

    try:
        run.fit(model=net, optimizer=optimizer, scheduler=scheduler,
                loader=training_loader(train, batch_size=args.batch_size, workers=args.workers),
                compute_loss=train_step, validate=lambda: evaluate(net, val, device, taxonomy.num_classes).miou(),
                save_best=lambda: save_camera_net(run.best_path, net))
    except ValueError as error:
        print(f'perception-train camera: {error}', file=sys.stderr)
        return 1

    net, _ = load_camera_net(run.best_path, device)
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
