"""Tune the adaptive key-frame policy on validation drives only (consecutive simulated frames of val seeds).

1. What predicts the loss: at a fixed interval (the policy's longest gap), each propagated frame's accuracy loss
   against running the backbone on it (pixel accuracy, per frame) beside the cues the policy can compute from the
   flow: mean flow, mean photometric error, share of pixels the flow does not explain, scene change. Spearman
   correlation per cue.
2. Thresholds: fixed key-frame intervals, the configured adaptive policy, and the adaptive policy with one cue at a
   time over a range of thresholds (longest gap: the configured interval): mIoU, mIoU lost against per-frame and
   the share of key frames. Per cue, the cheapest threshold losing at most --budget mIoU.

    perception-sim --randomise --split val --sequences 4 --frames 30 --cityscapes data/video
    .venv/bin/python benchmarks/tune_keyframes.py --data data/video [--budget 3]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from scipy.stats import spearmanr
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import publish  # noqa: E402

from perception.core.camera.propagation import (UNEXPLAINED_ERROR, FlowEstimator, PropagationConfig,  # noqa: E402
                                                photometric_error, scene_change)
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.metrics import ConfusionMatrix  # noqa: E402
from perception.io.cityscapes import list_frames, read_frame  # noqa: E402

DISABLED = {'max_flow_px': 1e9, 'max_photometric_error': 1.0, 'max_unexplained': 1.0, 'max_scene_change': 2.0}
THRESHOLDS = {'max_flow_px': (5.0, 10.0, 15.0, 20.0, 30.0),
              'max_photometric_error': (0.02, 0.03, 0.04, 0.06, 0.08),
              'max_unexplained': (0.05, 0.1, 0.15, 0.2, 0.3),
              'max_scene_change': (0.02, 0.05, 0.1, 0.2, 0.5)}


def drives(root: Path) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """(rgb, semantic) of every frame, per validation drive, in order."""
    by_drive = {}
    for frame in list_frames(root, 'val'):
        by_drive.setdefault(frame.image.parent.name, []).append(frame)
    return [[read_frame(f)[:2] for f in frames] for _, frames in sorted(by_drive.items())]


def run(config: CameraSegmenterConfig, data) -> tuple[ConfusionMatrix, list[list], int]:
    """Confusion over all frames, per drive the results, and the number of key frames."""
    segmenter = CameraSegmenter(config)
    confusion, results, keys = ConfusionMatrix(segmenter.taxonomy.num_classes), [], 0
    for frames in data:
        segmenter.reset()
        results.append([])
        for i, (rgb, semantic) in enumerate(frames):
            result = segmenter.process(rgb, i * 100_000_000)
            confusion.update(result.labels, semantic)
            results[-1].append(result)
            keys += result.key_frame
    return confusion, results, keys


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--data', type=Path, required=True, help='Cityscapes-layout consecutive frames (val split)')
    parser.add_argument('--budget', type=float, default=3.0, help='mIoU allowed to be lost against per frame')
    args = parser.parse_args()
    data = drives(args.data)
    frames = sum(len(d) for d in data)
    base = replace(CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')), panoptic=False)
    adaptive = base.propagation
    per_frame_confusion, per_frame, _ = run(replace(base, propagation=PropagationConfig(policy='fixed', interval=1)),
                                            data)
    reference = 100 * per_frame_confusion.miou()

    fixed_runs = {interval: run(replace(base, propagation=replace(adaptive, policy='fixed', interval=interval)), data)
                  for interval in sorted({3, 5, 8, 10, adaptive.interval})}

    # 1. cues against the loss, at the fixed interval
    fixed = fixed_runs[adaptive.interval][1]
    flow = FlowEstimator(adaptive)
    cues, losses = {name: [] for name in ('mean flow', 'photometric error', 'unexplained', 'scene change')}, []
    for frames_of_drive, propagated, own in zip(data, fixed, per_frame):
        key = 0
        for i, ((rgb, semantic), result) in enumerate(zip(frames_of_drive, propagated)):
            if result.key_frame:
                key = i
                continue
            grey, key_grey = (cv2.cvtColor(frames_of_drive[j][0], cv2.COLOR_RGB2GRAY) for j in (i, key))
            field = flow(grey, key_grey)
            errors = photometric_error(grey, key_grey, field)
            cues['mean flow'].append(float(np.linalg.norm(field, axis=-1).mean()))
            cues['photometric error'].append(float(errors.mean()))
            cues['unexplained'].append(float((errors > UNEXPLAINED_ERROR).mean()))
            cues['scene change'].append(scene_change(grey, key_grey))
            labelled = semantic != 255
            losses.append(float((own[i].labels == semantic)[labelled].mean()
                                - (result.labels == semantic)[labelled].mean()))
    correlation = {name: float(spearmanr(values, losses).statistic) for name, values in cues.items()}
    print('Spearman correlation of each cue with the accuracy lost by propagation:',
          {k: round(v, 2) for k, v in correlation.items()})

    # 2. one cue at a time, over thresholds
    rows = [{'cue': 'per frame', 'threshold': '', 'mIoU': reference, 'mIoU lost': 0.0, 'key frames %': 100.0}]
    for interval, (fixed_confusion, _, fixed_keys) in fixed_runs.items():
        rows.append({'cue': 'fixed interval', 'threshold': interval, 'mIoU': 100 * fixed_confusion.miou(),
                     'mIoU lost': reference - 100 * fixed_confusion.miou(), 'key frames %': 100 * fixed_keys / frames})
    confusion, _, keys = run(base, data)
    rows.append({'cue': 'configured adaptive policy', 'threshold': '', 'mIoU': 100 * confusion.miou(),
                 'mIoU lost': reference - 100 * confusion.miou(), 'key frames %': 100 * keys / frames})
    for cue, thresholds in tqdm(THRESHOLDS.items(), desc='cues'):
        for threshold in thresholds:
            policy = replace(adaptive, policy='adaptive', **{**DISABLED, cue: threshold})
            confusion, _, keys = run(replace(base, propagation=policy), data)
            rows.append({'cue': cue, 'threshold': threshold, 'mIoU': 100 * confusion.miou(),
                         'mIoU lost': reference - 100 * confusion.miou(), 'key frames %': 100 * keys / frames})
    chosen = {}
    for cue in ('fixed interval', *THRESHOLDS):
        within = [r for r in rows if r['cue'] == cue and r['mIoU lost'] <= args.budget]
        if within:
            best = min(within, key=lambda r: r['key frames %'])
            chosen[cue] = {'threshold': best['threshold'], 'key frames %': best['key frames %']}
    print(f'cheapest threshold per cue within {args.budget} mIoU lost: {chosen}')
    publish('tune_keyframes', rows, {'data': str(args.data), 'frames': frames, 'interval': adaptive.interval,
                                     'spearman': correlation, 'budget': args.budget, 'chosen': chosen,
                                     'weights': str(base.weights)})


if __name__ == '__main__':
    main()
