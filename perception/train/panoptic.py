"""perception-train panoptic: the Mask2Former head on the trained camera backbone (frozen), simulated frames of
training seeds. Writes the camera weights file back with the panoptic head added.

    perception-train panoptic --data data/cityscapes --steps 4000 --camera perception/weights/camera.pt
"""
import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

from perception.core.camera.panoptic import (PanopticInferenceConfig, panoptic_inference, panoptic_to_instance,
                                             panoptic_to_semantic)
from perception.core.device import select_device
from perception.eval.metrics import PanopticQuality
from perception.models.camera_net import load_camera_net, save_camera_net
from perception.models.mask2former import Mask2FormerConfig
from perception.models.panoptic_loss import SetCriterion, panoptic_targets
from perception.paths import WEIGHTS_DIR
from perception.splits import load_splits
from perception.taxonomy import load_taxonomy
from perception.train.camera import pad_to_stride
from perception.train.camera_data import CameraFrames, training_augmentation
from perception.train.common import (TrainRun, adamw_one_cycle, add_training_arguments, check_training_arguments,
                                     provenance, seed_everything, training_loader, write_record)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog='perception-train panoptic', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, default=Path('data/cityscapes'), help='Cityscapes-layout root')
    parser.add_argument('--camera', type=Path, default=WEIGHTS_DIR / 'camera.pt', help='trained camera network')
    add_training_arguments(parser, steps=4000, batch_size=4, lr=4e-4, run_dir=Path('outputs/train/panoptic'),
                           out=None, checkpoint_every=200, unset={'out': 'default: overwrite --camera'})
    parser.add_argument('--crop', type=int, nargs=2, default=(192, 512), metavar=('HEIGHT', 'WIDTH'))
    parser.add_argument('--queries', type=int, default=50)
    parser.add_argument('--hidden-dim', type=int, default=64)
    parser.add_argument('--encoder-layers', type=int, default=3)
    parser.add_argument('--decoder-layers', type=int, default=6)
    parser.add_argument('--val-frames', type=int, default=40, help='validation frames (evenly spread)')
    parser.add_argument('--thing-crops', type=float, default=0.0, metavar='SHARE',
                        help='share of training crops centred on a pixel of a thing class (0..1): more, larger '
                             'instances per step for a head that misses things')
    parser.add_argument('--max-scale', type=float, default=1.5, help='largest random up-scaling of a training frame')
    parser.add_argument('--init-head', type=Path, metavar='WEIGHTS',
                        help='start from the panoptic head of these camera weights (its architecture replaces the '
                             'head options): after a camera fine-tuning, the head adapts to the new features '
                             'faster than a fresh one learns')
    args = parser.parse_args(argv)
    check_training_arguments(parser, args)
    if any(c % 32 for c in args.crop):
        parser.error('--crop sides must be multiples of 32')
    if not 0 <= args.thing_crops <= 1 or args.max_scale < 1:
        parser.error('--thing-crops must be in 0..1 and --max-scale at least 1')
    args.out = args.out or args.camera
    return args


@torch.inference_mode()
def evaluate(net, frames: CameraFrames, device, taxonomy, count: int) -> dict:
    """PQ (Cityscapes rules) of panoptic inference on `count` evenly spread unaugmented frames."""
    net.eval()
    quality = PanopticQuality(taxonomy.num_classes, taxonomy.thing_ids)
    for index in np.linspace(0, len(frames) - 1, min(count, len(frames))).astype(int):
        sample = frames[index]
        image = sample['image'][None].to(device)
        outputs = net.panoptic(net.features(pad_to_stride(image)))
        panoptic, _ = panoptic_inference(outputs['pred_logits'][0], outputs['pred_masks'][0], taxonomy,
                                         tuple(pad_to_stride(image).shape[-2:]), PanopticInferenceConfig())
        panoptic = panoptic[:image.shape[-2], :image.shape[-1]].cpu().numpy()
        quality.update(panoptic_to_semantic(panoptic), panoptic_to_instance(panoptic), sample['semantic'].numpy(),
                       sample['instance'].numpy())
    return quality.compute()


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.time()
    seed_everything(args.seed)
    taxonomy = load_taxonomy()
    splits = load_splits()
    try:
        device = select_device(args.device)
        camera, camera_meta = load_camera_net(args.camera, device)
        train = CameraFrames(args.data, 'train', training_augmentation(
            *args.crop, max_scale=args.max_scale, thing_crops=args.thing_crops, stuff_ids=taxonomy.stuff_ids))
        val = CameraFrames(args.data, 'val')
        splits.check_simulated(train.sequences, 'train')
        splits.check_simulated(val.sequences, 'val')
        initial_head = load_camera_net(args.init_head)[0].panoptic_head if args.init_head else None
        if args.init_head and initial_head is None:
            raise ValueError(f'{args.init_head} has no panoptic head')
    except (ValueError, FileNotFoundError, RuntimeError) as error:
        print(f'perception-train panoptic: {error}', file=sys.stderr)
        return 1
    head_config = Mask2FormerConfig(num_classes=taxonomy.num_classes, in_channels=tuple(camera.backbone.config.widths),
                                    hidden_dim=args.hidden_dim, num_queries=args.queries,
                                    encoder_layers=args.encoder_layers, decoder_layers=args.decoder_layers)
    if initial_head is not None:
        if initial_head.config.in_channels != head_config.in_channels:
            print(f'perception-train panoptic: {args.init_head}: its head reads {initial_head.config.in_channels} '
                  f'channels, the backbone gives {head_config.in_channels}', file=sys.stderr)
            return 1
        head_config = initial_head.config
    net = camera.with_parts(panoptic=head_config).to(device)
    if initial_head is not None:
        net.panoptic_head.load_state_dict(initial_head.state_dict())
    for module in (net.backbone, net.semantic_head):  # frozen: the semantic result stays exactly as trained
        module.requires_grad_(False)
    criterion = SetCriterion(taxonomy.num_classes).to(device)
    optimizer, scheduler = adamw_one_cycle(net.panoptic_head.parameters(), lr=args.lr, weight_decay=0.05,
                                           steps=args.steps)
    run = TrainRun.from_args('panoptic', args, clip_grad_norm=1.0)

    def train_step(batch) -> torch.Tensor:
        net.backbone.eval()  # frozen, batch-norm statistics included
        net.panoptic_head.train()
        with torch.no_grad():
            pyramid = net.features(batch['image'].to(device))
        targets = panoptic_targets(batch['semantic'].to(device), batch['instance'].to(device), taxonomy)
        return criterion(net.panoptic(pyramid), targets)['loss']

    try:
        run.fit(model=net, optimizer=optimizer, scheduler=scheduler,
                loader=training_loader(train, batch_size=args.batch_size, workers=args.workers),
                compute_loss=train_step,
                validate=lambda: evaluate(net, val, device, taxonomy, args.val_frames)['all']['pq'],
                save_best=lambda: save_camera_net(run.best_path, net))
    except ValueError as error:
        print(f'perception-train panoptic: {error}', file=sys.stderr)
        return 1

    net, _ = load_camera_net(run.best_path, device)
    quality = evaluate(net, val, device, taxonomy, len(val))
    results = {group: {k: round(100 * v, 2) if k != 'n' else v for k, v in quality[group].items()}
               for group in ('all', 'things', 'stuff')}
    data = {'root': str(args.data), 'train_frames': len(train), 'val_frames': len(val)}
    meta = {**camera_meta, 'panoptic': provenance(started, data, results)}
    if args.init_head:
        meta['panoptic']['initialised_from'] = str(args.init_head)
    save_camera_net(args.out, net, meta)
    print(f'val PQ {results["all"]["pq"]:.1f}; wrote {args.out} and {write_record(args.out, meta)}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
