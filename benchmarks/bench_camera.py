"""Camera segmentation with flow-guided feature propagation on a held-out simulated drive, side by side in one run:
mIoU per frame (interval 1) vs propagated at key-frame intervals 2, 5, 10 and adaptive, each with and without the
correction branch (when the weights have one), with ms per key frame, per propagated frame, on average (all
stages, the panoptic head included with --panoptic), and the speed-up over per-frame inference. "GT warp mIoU"
scores the key frame's ground truth warped along the same flow: the most warping alone could reach with that flow.

Propagation is judged against the cheapest alternative: the same network run on every frame at a lower input
width (outputs mapped back to full size), the "equal-cost per-frame" curve. `camera_cost.png` plots mIoU (and PQ)
against ms per frame for both. With --panoptic, also PQ/SQ/RQ on key and propagated frames. With --kitti, also
segments real KITTI images.

    .venv/bin/python benchmarks/bench_camera.py [--seed 3001] [--frames 100] [--panoptic] [--kitti DIR]
"""
import argparse
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from eval_data import eval_frames  # noqa: E402
from report import OUT, publish  # noqa: E402

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic  # noqa: E402
from perception.core.camera.propagation import FlowEstimator, PropagationConfig  # noqa: E402
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig  # noqa: E402
from perception.core.parameters import load_parameters  # noqa: E402
from perception.eval.metrics import ConfusionMatrix, PanopticQuality  # noqa: E402

WARMUP = 3
TRAINED_WIDTH = 640


def run(segmenter: CameraSegmenter, data: dict, panoptic: bool) -> dict:
    taxonomy = segmenter.taxonomy
    confusion = {kind: ConfusionMatrix(taxonomy.num_classes) for kind in ('all', 'key', 'propagated')}
    quality = {kind: PanopticQuality(taxonomy.num_classes, taxonomy.thing_ids) for kind in ('all', 'key', 'propagated')}
    times = {'key': [], 'propagated': []}
    head_ms = []
    # the flow's own limit: the key frame's ground truth warped along the same flow, scored like the predictions
    flow, warped_truth = FlowEstimator(segmenter.config.propagation), ConfusionMatrix(taxonomy.num_classes)
    key_index = 0
    for image in data['image'][:WARMUP]:  # first calls allocate; not timed
        segmenter.process(image, None)
    segmenter.reset()
    for image, semantic, instance, stamp in zip(data['image'], data['semantic'], data['instance'], data['stamp_ns']):
        result = segmenter.process(image, int(stamp))
        kind = 'key' if result.key_frame else 'propagated'
        index = len(times['key']) + len(times['propagated'])
        if result.key_frame:
            key_index = index
        else:
            warped_truth.update(warp_labels(data['semantic'][key_index], data['image'][key_index], image, flow),
                                semantic)
        times[kind].append(result.timing_ms['total'])
        for k in ('all', kind):
            confusion[k].update(result.labels, semantic)
        if panoptic:
            head_ms.append(result.timing_ms.get('panoptic_head', 0.0))
            predicted = panoptic_to_semantic(result.panoptic), panoptic_to_instance(result.panoptic)
            for k in ('all', kind):
                quality[k].update(*predicted, semantic, instance)
    frames = len(times['key']) + len(times['propagated'])
    row = {'mIoU': 100 * confusion['all'].miou(),
           'mIoU key': 100 * confusion['key'].miou(),
           'mIoU propagated': 100 * confusion['propagated'].miou() if times['propagated'] else None,
           'GT warp mIoU': 100 * warped_truth.miou() if times['propagated'] else None,
           'key frames': len(times['key']),
           'ms key': float(np.mean(times['key'])),
           'ms propagated': float(np.mean(times['propagated'])) if times['propagated'] else None,
           'ms average': float(np.sum(times['key'] + times['propagated']) / frames)}
    if panoptic:
        for kind in ('all', 'key', 'propagated'):
            if quality[kind].tp.sum() + quality[kind].fn.sum():
                result = quality[kind].compute()
                for group in ('all', 'things', 'stuff'):
                    for metric in ('pq', 'sq', 'rq'):
                        row[f'{metric.upper()} {group} {kind}'] = 100 * result[group][metric]
        row['PQ'] = row['PQ all all']
        row['panoptic head ms'] = float(np.mean(head_ms))  # per frame, carried frames counting 0
    return row


def warp_labels(key_labels: np.ndarray, key_image: np.ndarray, image: np.ndarray, flow: FlowEstimator) -> np.ndarray:
    """The key frame's labels moved to the current frame along the estimated flow (nearest neighbour)."""
    grey = [cv2.cvtColor(i, cv2.COLOR_RGB2GRAY) for i in (image, key_image)]
    field = flow(*grey)
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]].astype(np.float32)
    return cv2.remap(key_labels, xs + field[..., 0], ys + field[..., 1], cv2.INTER_NEAREST,
                     borderMode=cv2.BORDER_REPLICATE)


def kitti_overlays(segmenter: CameraSegmenter, folder: Path) -> list[str]:
    """Segment real KITTI images (resized to the model's input width) and save image + overlay pairs."""
    out = OUT / 'kitti_camera'
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted(folder.glob('*.png')):
        bgr = cv2.imread(str(path))
        scale = TRAINED_WIDTH / bgr.shape[1]  # the camera's field of view at the training resolution
        bgr = cv2.resize(bgr, (TRAINED_WIDTH, round(bgr.shape[0] * scale)), interpolation=cv2.INTER_AREA)
        segmenter.reset()
        rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
        result = segmenter.process(rgb)
        overlay = segmenter.overlay(rgb, result.labels)
        panels = [rgb, overlay]
        target = out / f'{path.stem}.png'
        cv2.imwrite(str(target), cv2.cvtColor(np.concatenate(panels, 0), cv2.COLOR_RGB2BGR))
        labels, counts = np.unique(result.labels, return_counts=True)
        share = {segmenter.taxonomy.names[label]: round(float(100 * c / result.labels.size), 1)
                 for label, c in zip(labels, counts)}
        print(f'{path.name}: {dict(sorted(share.items(), key=lambda kv: -kv[1]))}')
        written.append(str(target))
    return written


def policy_variants(base: CameraSegmenterConfig, width: int, lower_widths, has_correction: bool,
                    panoptic: bool) -> list[tuple[str, CameraSegmenterConfig, int, bool]]:
    """(name, config, input width, corrected) of every variant compared. The equal-cost per-frame models are the
    shipped configuration itself, per frame, at lower input widths: same weights, same code, outputs mapped back to
    the full size."""
    corrects = [True, False] if has_correction else [False]
    adaptive, per_frame = base.propagation, PropagationConfig(policy='fixed', interval=1)
    variants = [(f'per frame at width {w}', replace(base, input_width=w, propagation=per_frame), w, False)
                for w in (width, *lower_widths)]
    for correct in corrects:
        suffix = ', corrected' if correct else (', warped only' if has_correction else '')
        variants += [(f'interval {k}{suffix}', replace(base, propagation=replace(
            adaptive, policy='fixed', interval=k, correction=correct)), width, correct) for k in (2, 5, 10)]
        variants += [(f'adaptive (max {adaptive.interval}){suffix}',
                      replace(base, propagation=replace(adaptive, correction=correct)), width, correct)]
    if has_correction:  # the choices the correction raises: flow resolution, and the panoptic head on corrected frames
        corrected = replace(adaptive, correction=True)
        variants.append((f'adaptive (max {adaptive.interval}), corrected, full-resolution flow',
                         replace(base, propagation=replace(corrected, flow_scale=1.0)), width, True))
        if panoptic:
            variants.append((f'adaptive (max {adaptive.interval}), corrected, panoptic head every frame',
                             replace(base, propagation=corrected, panoptic_head_interval=1), width, True))
    return variants


def cost_plot(rows: list[dict], path: Path, panoptic: bool) -> None:
    """mIoU (and PQ) against ms per frame: per-frame rows at every width as a curve, propagation as points."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    metrics = ['mIoU'] + (['PQ'] if panoptic else [])
    figure, axes = plt.subplots(1, len(metrics), figsize=(6 * len(metrics), 4.5), squeeze=False)
    for axis, metric in zip(axes[0], metrics):
        curve = sorted((row for row in rows if row['per frame']), key=lambda row: row['ms average'])
        axis.plot([r['ms average'] for r in curve], [r[metric] for r in curve], 'k-o', label='per frame, by width')
        for r in curve:
            axis.annotate(str(r['width']), (r['ms average'], r[metric]), textcoords='offset points', xytext=(4, -10),
                          fontsize=8)
        for r in rows:
            if not r['per frame']:
                axis.plot(r['ms average'], r[metric], 's' if r['corrected'] else '^', label=r['policy'])
        axis.set_xlabel('ms per frame (all stages, 1 thread)')
        axis.set_ylabel(f'{metric} (drive 3001)')
        axis.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, loc='lower right')
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--seed', type=int, default=3001)
    parser.add_argument('--frames', type=int, default=100)
    parser.add_argument('--panoptic', action='store_true')
    parser.add_argument('--widths', type=int, nargs='+', default=(512, 448, 384, 320),
                        help='lower input widths of the equal-cost per-frame curve')
    parser.add_argument('--kitti', type=Path, help='folder of KITTI image_2 PNGs to segment as well')
    args = parser.parse_args()
    data = eval_frames(args.seed, args.frames)
    width = data['image'][0].shape[1]
    base = replace(CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')),
                   panoptic=args.panoptic)
    has_correction = CameraSegmenter(replace(base, panoptic=False)).net.correction is not None
    variants = policy_variants(base, width, args.widths, has_correction, args.panoptic)
    rows = []
    for name, config, input_width, correct in tqdm(variants, desc='policies'):
        row = run(CameraSegmenter(config), data, args.panoptic)
        rows.append({'policy': name, 'width': input_width, 'per frame': name.startswith('per frame'),
                     'corrected': correct, **row})
    baseline_ms, baseline_miou = rows[0]['ms average'], rows[0]['mIoU']
    for row in rows:
        row['speed-up'] = baseline_ms / row['ms average']
        row['mIoU lost'] = baseline_miou - row['mIoU']
    columns = ['policy', 'mIoU', 'mIoU lost', 'mIoU propagated', 'GT warp mIoU', 'key frames', 'ms key',
               'ms propagated', 'ms average', 'speed-up']
    if args.panoptic:
        columns += ['PQ', 'PQ all key', 'PQ all propagated', 'PQ things key', 'panoptic head ms']
    extra = {'seed': args.seed, 'frames': args.frames, 'weights': str(base.weights)}
    name = 'camera_panoptic' if args.panoptic else 'camera'
    OUT.mkdir(parents=True, exist_ok=True)
    cost_plot(rows, OUT / f'{name}_cost.png', args.panoptic)
    extra['plot'] = str(OUT / f'{name}_cost.png')
    if args.kitti:
        extra['kitti_overlays'] = kitti_overlays(CameraSegmenter(replace(base, panoptic=False)), args.kitti)
    publish(name, rows, extra, columns)


if __name__ == '__main__':
    main()
