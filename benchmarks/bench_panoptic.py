"""The camera's panoptic output at lower cost, side by side on a held-out drive with the shipped key-frame policy:
the head on every frame (as before) against the head on key frames and every `head_interval` frames with its
result carried forward along the flow in between, and panoptic inference at 1/stride resolution. PQ on key frames,
on propagated frames (head on warped features, or carried), and over all frames; panoptic ms per frame (head or
carry) and camera ms per frame.

    .venv/bin/python benchmarks/bench_panoptic.py [--seed 3001] [--frames 100]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_data import eval_frames  # noqa: E402
from report import publish  # noqa: E402

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.metrics import PanopticQuality  # noqa: E402

WARMUP = 3
VARIANTS = [('head every frame', 1, 1), ('head every frame, stride 2', 1, 2), ('head every frame, stride 4', 1, 4),
            ('carried, head interval 2', 2, 1), ('carried, head interval 5', 5, 1),
            ('carried, head interval 5, stride 2', 5, 2), ('carried, head interval 5, stride 4', 5, 4)]


def run(segmenter: CameraSegmenter, data: dict) -> dict:
    taxonomy = segmenter.taxonomy
    quality = {kind: PanopticQuality(taxonomy.num_classes, taxonomy.thing_ids) for kind in ('all', 'key', 'other')}
    panoptic_ms, total_ms, carried = [], [], 0
    for image in data['image'][:WARMUP]:
        segmenter.process(image, None)
    segmenter.reset()
    for image, semantic, instance, stamp in zip(data['image'], data['semantic'], data['instance'], data['stamp_ns']):
        result = segmenter.process(image, int(stamp))
        carried += result.panoptic_carried
        panoptic_ms.append(result.timing_ms.get('panoptic_head', 0.0) + result.timing_ms.get('panoptic_carry', 0.0))
        total_ms.append(result.timing_ms['total'])
        kind = 'key' if result.key_frame else 'other'
        for k in ('all', kind):
            quality[k].update(panoptic_to_semantic(result.panoptic), panoptic_to_instance(result.panoptic), semantic,
                              instance)
    row = {}
    for kind, name in (('all', 'all frames'), ('key', 'key frames'), ('other', 'other frames')):
        scores = quality[kind].compute()
        row[f'PQ {name}'] = 100 * scores['all']['pq']
        row[f'PQ stuff {name}'] = 100 * scores['stuff']['pq']
        row[f'PQ things {name}'] = 100 * scores['things']['pq']
    row.update({'carried frames': carried, 'panoptic ms per frame': float(np.mean(panoptic_ms)),
                'camera ms per frame': float(np.mean(total_ms))})
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=3001)
    parser.add_argument('--frames', type=int, default=100)
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the camera node runs
    data = eval_frames(args.seed, args.frames)
    base = CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation'))
    rows = []
    for name, interval, stride in tqdm(VARIANTS, desc='variants'):
        segmenter = CameraSegmenter(replace(base, panoptic=True, panoptic_head_interval=interval,
                                            panoptic_stride=stride))
        rows.append({'variant': name, **run(segmenter, data)})
    columns = ['variant', 'PQ all frames', 'PQ key frames', 'PQ other frames', 'PQ stuff other frames',
               'PQ things other frames', 'carried frames', 'panoptic ms per frame', 'camera ms per frame']
    publish('panoptic', rows, {'seed': args.seed, 'frames': args.frames, 'policy': str(base.propagation),
                               'load': Path('/proc/loadavg').read_text().split()[:3]}, columns)


if __name__ == '__main__':
    main()
