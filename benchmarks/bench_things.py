"""Where the panoptic head loses things: the share of ground-truth thing instances it recognises (a predicted
segment of the same class with IoU > 0.5, PQ's match rule), by instance size in pixels, on simulated validation
frames. Things PQ counts every instance alike, so the many tiny far-away ones weigh as much as a near car.

    .venv/bin/python benchmarks/bench_things.py --data data/v2/cityscapes [--frames 30] [--weights a.pt b.pt]
"""
import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.core.camera.panoptic import PanopticInferenceConfig, panoptic_inference  # noqa: E402
from perception.models.camera_net import load_camera_net  # noqa: E402
from perception.paths import WEIGHTS_DIR  # noqa: E402
from perception.taxonomy import load_taxonomy  # noqa: E402
from perception.train.camera import pad_to_stride  # noqa: E402
from perception.train.camera_data import CameraFrames  # noqa: E402

SIZES = ((0, 100), (100, 500), (500, 2000), (2000, None))


def recognised_by_size(net, frames: CameraFrames, indices, taxonomy) -> dict:
    """{(low, high): [recognised, instances]} over the thing instances of the given frames."""
    counts = {size: [0, 0] for size in SIZES}
    with torch.inference_mode():
        for index in indices:
            sample = frames[index]
            image = pad_to_stride(sample['image'][None])
            outputs = net.panoptic(net.features(image))
            panoptic, _ = panoptic_inference(outputs['pred_logits'][0], outputs['pred_masks'][0], taxonomy,
                                             tuple(image.shape[-2:]), PanopticInferenceConfig())
            height, width = sample['image'].shape[-2:]
            panoptic = panoptic[:height, :width].cpu().numpy()
            semantic, instance = sample['semantic'].numpy(), sample['instance'].numpy()
            for instance_id in np.unique(instance[instance > 0]):
                mask = instance == instance_id
                label = np.bincount(semantic[mask]).argmax()
                if label not in taxonomy.thing_ids:
                    continue
                area = int(mask.sum())
                size = next(s for s in SIZES if s[0] <= area and (s[1] is None or area < s[1]))
                counts[size][1] += 1
                ids, overlaps = np.unique(panoptic[mask], return_counts=True)
                counts[size][0] += any(
                    segment // 1000 == label and overlap / (area + (panoptic == segment).sum() - overlap) > 0.5
                    for segment, overlap in zip(ids, overlaps))
    return counts


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, required=True, help='Cityscapes-layout simulated frames (val split)')
    parser.add_argument('--frames', type=int, default=30)
    parser.add_argument('--weights', type=Path, nargs='+', default=[WEIGHTS_DIR / 'camera.pt'])
    args = parser.parse_args()
    torch.set_num_threads(1)
    taxonomy = load_taxonomy()
    frames = CameraFrames(args.data, 'val')
    indices = np.linspace(0, len(frames) - 1, min(args.frames, len(frames))).astype(int)
    rows = []
    for weights in args.weights:
        net, _ = load_camera_net(weights)
        counts = recognised_by_size(net, frames, indices, taxonomy)
        row = {'weights': str(weights)}
        for (low, high), (found, total) in counts.items():
            name = f'{low}-{high} px' if high else f'>= {low} px'
            row[name] = f'{found}/{total} ({100 * found / max(total, 1):.0f}%)'
        rows.append(row)
    publish('things', rows, {'data': str(args.data), 'frames': len(indices)})


if __name__ == '__main__':
    main()
