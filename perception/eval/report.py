"""The evaluation report of a replayed drive: report.json, report.md and figures (per-class IoU bars, latency
histogram) with sample images (camera overlay, panoptic map, bird's-eye view of the labeled scene)."""
import json
from pathlib import Path

import cv2
import matplotlib
import numpy as np

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic
from perception.core.clouds import unpack_rgb
from perception.taxonomy import Taxonomy

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

BEV_RANGE_M, BEV_PIXELS_PER_M = 50.0, 6


def panoptic_colours(panoptic: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Class colours, each thing instance shaded differently; void black."""
    semantic, instance = panoptic_to_semantic(panoptic), panoptic_to_instance(panoptic)
    rgb = taxonomy.colorize(np.clip(semantic, 0, 255)).astype(np.float32)
    shade = 0.55 + 0.45 * ((instance * 0.618034) % 1.0)
    rgb[instance > 0] *= shade[instance > 0, None]
    return rgb.astype(np.uint8)


def birds_eye_view(scene: np.ndarray, taxonomy: Taxonomy) -> np.ndarray:
    """Top view of a scene cloud (x forward up the image, y left), labelled points in their rgb field's colours."""
    size = int(2 * BEV_RANGE_M * BEV_PIXELS_PER_M)
    image = np.full((size, size, 3), 20, np.uint8)
    row = (size / 2 - scene['x'] * BEV_PIXELS_PER_M).astype(int)
    col = (size / 2 - scene['y'] * BEV_PIXELS_PER_M).astype(int)
    inside = (row >= 0) & (row < size) & (col >= 0) & (col < size) & (scene['label'] != taxonomy.ignore_id)
    order = np.argsort(scene['z'][inside])  # higher points drawn last
    image[row[inside][order], col[inside][order]] = unpack_rgb(scene['rgb'][inside][order])
    cv2.circle(image, (size // 2, size // 2), 4, (255, 255, 255), -1)
    return image


def _iou_bars(summary: dict, taxonomy: Taxonomy, path: Path) -> None:
    sources = [(name, summary[key]['per_class_iou']) for name, key in
               (('camera', 'camera'), ('LiDAR', 'lidar'), ('fused scene', 'scene')) if key in summary]
    figure, axis = plt.subplots(figsize=(12, 4.5))
    width = 0.8 / max(1, len(sources))
    x = np.arange(taxonomy.num_classes)
    for i, (name, ious) in enumerate(sources):
        values = [ious.get(c) if ious.get(c) is not None else 0.0 for c in taxonomy.names]
        axis.bar(x + i * width, values, width, label=name)
    axis.set_xticks(x + width * (len(sources) - 1) / 2, taxonomy.names, rotation=60, ha='right')
    axis.set_ylabel('IoU (%)')
    axis.set_ylim(0, 100)
    axis.legend()
    axis.set_title('Per-class IoU')
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _latency_histogram(latency: dict[str, list[float]], path: Path) -> None:
    stages = [s for s in ('camera.total', 'lidar.total', 'fusion.total') if latency.get(s)]
    figure, axis = plt.subplots(figsize=(8, 4))
    for stage in stages:
        axis.hist(latency[stage], bins=30, alpha=0.6, label=stage)
    axis.set_xlabel('ms per frame')
    axis.set_ylabel('frames')
    axis.set_title('Per-stage latency')
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def _fmt(value) -> str:
    return '-' if value is None else f'{value:.1f}'


def markdown(summary: dict, figures: dict[str, str], bag: str, output_bag: str) -> str:
    lines = [f'# Perception replay of `{bag}`', '', f'Output bag: `{output_bag}`', '']
    if 'partial' in summary:
        lines += [f'**Partial run**: {summary["partial"]}; the metrics cover the frames before that.', '']
    if 'damaged' in summary:
        skipped = ', '.join(f'{n} on {topic}' for topic, n in summary['damaged']['skipped_messages'].items())
        lines += [f'**Damaged recording**: skipped {skipped or "no messages"} ({len(summary["damaged"]["where"])} '
                  'damaged places, listed in report.json).', '']
    frames = summary['frames']
    lines += [f'{frames["lidar"]} sweeps, {frames["camera"]} camera frames ({frames["camera_key"]} key frames), '
              f'{frames["lidar_only_scenes"]} LiDAR-only scenes; {summary.get("throughput_fps")} frames/s '
              f'({summary.get("wall_time_s")} s).', '']
    rows = []
    if 'camera' in summary:
        pq = summary.get('camera_panoptic', {})
        for kind in ('all', 'key', 'propagated'):
            if kind in summary['camera']:
                rows.append((f'camera ({kind} frames)', summary['camera'][kind]['miou'],
                             pq.get(kind, {}).get('all', {}).get('pq')))
    for name, key in (('LiDAR', 'lidar'), ('fused scene', 'scene')):
        if key in summary:
            rows.append((name, summary[key]['miou'], summary[key]['panoptic']['all']['pq']))
    if rows:
        lines += ['| output | mIoU | PQ |', '|---|---|---|'] + [f'| {n} | {_fmt(m)} | {_fmt(p)} |' for n, m, p in rows]
        lines.append('')
    if 'scene' in summary:
        lines += ['Points the camera sees:', '', '| labels from | mIoU | accuracy |', '|---|---|---|']
        for source, values in summary['scene']['camera_visible_points'].items():
            lines.append(f'| {source.replace("_", " ")} | {_fmt(values["miou"])} | '
                         f'{_fmt(values["point_accuracy"])} |')
        lines.append('')
    lines += ['| stage | p50 ms | p95 ms | max ms |', '|---|---|---|---|']
    lines += [f'| {stage} | {v["p50"]} | {v["p95"]} | {v["max"]} |' for stage, v in summary['latency_ms'].items()]
    lines.append('')
    for title, name in figures.items():
        lines += [f'## {title}', '', f'![{title}]({name})', '']
    tables = [(name, summary[key]['per_class_iou'] if key != 'camera' else summary['camera']['per_class_iou'])
              for name, key in (('camera', 'camera'), ('LiDAR', 'lidar'), ('scene', 'scene')) if key in summary]
    if tables:
        names = list(tables[0][1])
        lines += ['## Per-class IoU (%)', '', '| class | ' + ' | '.join(n for n, _ in tables) + ' |',
                  '|---|' + '---|' * len(tables)]
        lines += [f'| {c} | ' + ' | '.join(_fmt(t[c]) for _, t in tables) + ' |' for c in names]
    return '\n'.join(lines) + '\n'


def write_report(out: Path, summary: dict, latency: dict[str, list[float]], samples: dict, taxonomy: Taxonomy,
                 bag: str, output_bag: str) -> Path:
    """Write report.json, report.md and the figures into `out`; returns the Markdown path."""
    out = Path(out)
    figures = {}
    if any(k in summary for k in ('camera', 'lidar', 'scene')):
        _iou_bars(summary, taxonomy, out / 'per_class_iou.png')
        figures['Per-class IoU'] = 'per_class_iou.png'
    if latency:
        _latency_histogram(latency, out / 'latency.png')
        figures['Latency'] = 'latency.png'
    for stamp, sample in sorted(samples.get('camera', {}).items())[:3]:
        panels = [sample['image'], sample['overlay']]
        if sample['panoptic'] is not None:
            panels.append(panoptic_colours(sample['panoptic'], taxonomy))
        name = f'camera_{stamp}.png'
        cv2.imwrite(str(out / name), cv2.cvtColor(np.concatenate(panels, 0), cv2.COLOR_RGB2BGR))
        figures[f'Camera at {stamp} ns: image, semantic overlay, panoptic map'] = name
    for stamp, scene in sorted(samples.get('scene', {}).items())[:3]:
        name = f'scene_bev_{stamp}.png'
        cv2.imwrite(str(out / name), cv2.cvtColor(birds_eye_view(scene, taxonomy), cv2.COLOR_RGB2BGR))
        figures[f"Labeled scene at {stamp} ns, bird's-eye view (100 m x 100 m)"] = name
    (out / 'report.json').write_text(json.dumps(summary, indent=2))
    path = out / 'report.md'
    path.write_text(markdown(summary, figures, bag, output_bag))
    return path
