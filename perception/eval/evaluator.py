"""Evaluation of a replayed drive against its ground truth: camera mIoU/PQ (key vs propagated frames), LiDAR
mIoU/PQ, fused-scene mIoU/PQ, the camera-only / LiDAR-only / fused comparison on points the camera sees, and
per-stage latency."""
import json
from collections import defaultdict
from pathlib import Path

import numpy as np

from perception.core.camera.panoptic import panoptic_to_instance, panoptic_to_semantic
from perception.eval.metrics import ConfusionMatrix, PanopticQuality
from perception.taxonomy import Taxonomy


def _percent(value: float) -> float | None:
    return None if value is None or np.isnan(value) else round(100 * float(value), 2)


def _panoptic_summary(quality: PanopticQuality) -> dict:
    result = quality.compute()
    return {group: {k: _percent(v) for k, v in result[group].items() if k != 'n'}
            for group in ('all', 'things', 'stuff')}


_COUNT_FIELDS = {ConfusionMatrix: ('matrix', 'void_predictions'), PanopticQuality: ('tp', 'fp', 'fn', 'iou_sum')}


class DriveEvaluator:
    def __init__(self, taxonomy: Taxonomy):
        self.taxonomy = taxonomy
        k, things = taxonomy.num_classes, taxonomy.thing_ids
        self.camera = {kind: ConfusionMatrix(k) for kind in ('key', 'propagated', 'all')}
        self.camera_pq = {kind: PanopticQuality(k, things) for kind in ('key', 'propagated', 'all')}
        self.lidar, self.scene = ConfusionMatrix(k), ConfusionMatrix(k)
        self.lidar_pq = PanopticQuality(k, things, rules='semantickitti')
        self.scene_pq = PanopticQuality(k, things, rules='semantickitti')
        self.visible = {source: ConfusionMatrix(k) for source in ('camera_only', 'lidar_only', 'fused')}
        self.latency_ms: dict[str, list[float]] = defaultdict(list)
        self.frames = {'camera': 0, 'camera_key': 0, 'lidar': 0, 'lidar_only_scenes': 0}

    def add_camera(self, key_frame: bool, labels: np.ndarray, panoptic: np.ndarray | None, gt_semantic: np.ndarray,
                   gt_instance: np.ndarray) -> None:
        kinds = ('all', 'key' if key_frame else 'propagated')
        for kind in kinds:
            self.camera[kind].update(labels, gt_semantic)
        if panoptic is not None:
            semantic, instance = panoptic_to_semantic(panoptic), panoptic_to_instance(panoptic)
            for kind in kinds:
                self.camera_pq[kind].update(semantic, instance, gt_semantic, gt_instance)

    def add_lidar(self, labels: np.ndarray, instance: np.ndarray, gt_semantic: np.ndarray,
                  gt_instance: np.ndarray) -> None:
        self.lidar.update(labels, gt_semantic)
        self.lidar_pq.update(labels, instance, gt_semantic, gt_instance)

    def add_scene(self, labels: np.ndarray, instance: np.ndarray, camera_seen: np.ndarray,
                  camera_point_labels: np.ndarray, lidar_labels: np.ndarray, gt_semantic: np.ndarray,
                  gt_instance: np.ndarray) -> None:
        self.scene.update(labels, gt_semantic)
        self.scene_pq.update(labels, instance, gt_semantic, gt_instance)
        if camera_seen.any():
            truth = gt_semantic[camera_seen]
            self.visible['camera_only'].update(camera_point_labels[camera_seen], truth)
            self.visible['lidar_only'].update(lidar_labels[camera_seen], truth)
            self.visible['fused'].update(labels[camera_seen], truth)

    def count_camera_frame(self, key_frame: bool, timing_ms: dict) -> None:
        """A segmented camera frame and its stage timings (as 'camera.<stage>')."""
        self.frames['camera'] += 1
        self.frames['camera_key'] += int(key_frame)
        self._add_timings('camera', timing_ms)

    def count_sweep(self, timing_ms: dict) -> None:
        """A segmented LiDAR sweep and its stage timings (as 'lidar.<stage>')."""
        self.frames['lidar'] += 1
        self._add_timings('lidar', timing_ms)

    def count_scene(self, camera_fused: bool, timing_ms: dict) -> None:
        """A fused scene (LiDAR-only unless `camera_fused`) and its stage timings (as 'fusion.<stage>')."""
        self.frames['lidar_only_scenes'] += int(not camera_fused)
        self._add_timings('fusion', timing_ms)

    def _add_timings(self, prefix: str, timing_ms: dict) -> None:
        for stage, milliseconds in timing_ms.items():
            self.latency_ms[f'{prefix}.{stage}'].append(float(milliseconds))

    def _counts(self) -> dict[str, ConfusionMatrix | PanopticQuality]:
        """Every count container, by a stable name."""
        named = {'lidar': self.lidar, 'scene': self.scene, 'lidar_pq': self.lidar_pq, 'scene_pq': self.scene_pq}
        for name in ('camera', 'camera_pq', 'visible'):
            named.update({f'{name}.{key}': counts for key, counts in getattr(self, name).items()})
        return named

    def merge(self, other: 'DriveEvaluator') -> 'DriveEvaluator':
        """Add another drive's counts into this one (pooled metrics: summed confusion matrices and panoptic
        counts, not averaged means); returns self."""
        theirs = other._counts()
        for name, accumulated in self._counts().items():
            accumulated.merge(theirs[name])
        for stage, values in other.latency_ms.items():
            self.latency_ms[stage] += values
        for key, count in other.frames.items():
            self.frames[key] = self.frames.get(key, 0) + count
        return self

    def save(self, path: Path) -> None:
        """The counts, latencies and frame counts as plain arrays in an .npz file (no pickle: see load)."""
        arrays = {f'{name}.{field}': getattr(counts, field) for name, counts in self._counts().items()
                  for field in _COUNT_FIELDS[type(counts)]}
        arrays.update({f'latency.{stage}': np.asarray(values, np.float64) for stage, values in self.latency_ms.items()})
        arrays['frames'] = np.array(json.dumps(self.frames))
        with open(path, 'wb') as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path, taxonomy: Taxonomy) -> 'DriveEvaluator':
        """An evaluator saved by save(); never unpickles (ValueError for a file that is not one)."""
        evaluator = cls(taxonomy)
        with np.load(path, allow_pickle=False) as data:
            for name, counts in evaluator._counts().items():
                for field in _COUNT_FIELDS[type(counts)]:
                    setattr(counts, field, data[f'{name}.{field}'].astype(getattr(counts, field).dtype))
            for key in data.files:
                if key.startswith('latency.'):
                    evaluator.latency_ms[key[len('latency.'):]] = data[key].tolist()
            evaluator.frames = json.loads(str(data['frames']))
        return evaluator

    def latency_summary(self) -> dict:
        return {stage: {'p50': round(float(np.percentile(v, 50)), 2), 'p95': round(float(np.percentile(v, 95)), 2),
                        'max': round(float(np.max(v)), 2), 'mean': round(float(np.mean(v)), 2), 'count': len(v)}
                for stage, v in sorted(self.latency_ms.items())}

    def _iou_table(self, confusion: ConfusionMatrix) -> dict:
        return {name: _percent(v) for name, v in zip(self.taxonomy.names, confusion.iou())}

    def summary(self) -> dict:
        """Everything the report shows, in percent; None where a metric had no data."""
        out = {'frames': dict(self.frames), 'latency_ms': self.latency_summary()}
        if self.camera['all'].matrix.sum():
            out['camera'] = {kind: {'miou': _percent(c.miou()), 'pixel_accuracy': _percent(c.accuracy())}
                             for kind, c in self.camera.items() if c.matrix.sum()}
            out['camera']['per_class_iou'] = self._iou_table(self.camera['all'])
            out['camera_panoptic'] = {kind: _panoptic_summary(q) for kind, q in self.camera_pq.items()
                                      if q.tp.sum() + q.fn.sum()}
        if self.lidar.matrix.sum():
            out['lidar'] = {'miou': _percent(self.lidar.miou()), 'point_accuracy': _percent(self.lidar.accuracy()),
                            'per_class_iou': self._iou_table(self.lidar), 'panoptic': _panoptic_summary(self.lidar_pq)}
        if self.scene.matrix.sum():
            out['scene'] = {'miou': _percent(self.scene.miou()), 'point_accuracy': _percent(self.scene.accuracy()),
                            'per_class_iou': self._iou_table(self.scene), 'panoptic': _panoptic_summary(self.scene_pq),
                            'camera_visible_points': {source: {'miou': _percent(c.miou()),
                                                               'point_accuracy': _percent(c.accuracy())}
                                                      for source, c in self.visible.items()}}
        return out
