"""Offline replay: a recorded drive through the whole pipeline in stamp order, in one process and without DDS.

Camera frames go through the camera segmenter, sweeps through the LiDAR segmenter, and sweeps are paired with
camera frames by stamp exactly as the fusion node pairs them. Every output is written to a new bag next to the
input topics, and compared with the ground-truth topics when the recording has them.
"""
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.clouds import unpack_point_labels
from perception.core.fusion.pipeline import CameraOutputs, SceneFusion, SceneFusionConfig
from perception.core.fusion.sync import StampMatcher
from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.core.parameters import load_parameters, validate
from perception.eval.evaluator import DriveEvaluator
from perception.io import topics as T
from perception.io.bag import BagError, BagReader, BagWriter
from perception.io.drive import read_calibration
from perception.msgs.adapters import (camera_input, camera_output_images, fusion_camera, fusion_sweep,
                                      labeled_cloud, lidar_input, scene_cloud, scene_status)
from perception.msgs.codec import image_to_array, pointcloud2_to_array
from perception.msgs.diagnostics import node_diagnostics
from perception.msgs.markers import instance_markers
from perception.msgs.types import rosbags_types

CAMERA_OUTPUT_TOPICS = {'labels': T.CAMERA_LABELS, 'confidence': T.CAMERA_CONFIDENCE, 'overlay': T.CAMERA_OVERLAY,
                        'panoptic': T.CAMERA_PANOPTIC}


@dataclass
class ReplayResult:
    summary: dict                      # metrics and latency (DriveEvaluator.summary)
    output_bag: Path
    latency_ms: dict                   # stage -> per-frame milliseconds
    samples: dict = field(default_factory=dict)  # a few frames' images and scenes for the report
    evaluator: DriveEvaluator | None = None  # the counts behind summary (pooled by perception-batch)


def _load_configs(params: Path | None, backend: str | None):
    configs = {}
    for node in ('camera_segmentation', 'lidar_segmentation', 'fusion'):
        parameters = load_parameters(node, params)
        if node == 'lidar_segmentation' and backend:
            parameters['model.backend'] = backend
        validate(node, parameters)
        configs[node] = parameters
    return (CameraSegmenterConfig.from_parameters(configs['camera_segmentation']),
            LidarSegmenterConfig.from_parameters(configs['lidar_segmentation']),
            SceneFusionConfig.from_parameters(configs['fusion']))


class Replay:
    def __init__(self, bag: Path, out: Path, params: Path | None = None, backend: str | None = None,
                 max_frames: int | None = None, sample_every: int = 20, progress: bool = True):
        self.bag, self.out = Path(bag), Path(out)
        self.max_frames, self.sample_every, self.progress = max_frames, sample_every, progress
        camera_config, lidar_config, fusion_config = _load_configs(params, backend)
        self.calibration = read_calibration(self.bag)
        self.camera = CameraSegmenter(camera_config)
        self.lidar = LidarSegmenter(lidar_config)
        self.fusion = SceneFusion(fusion_config)
        self.matcher = StampMatcher(fusion_config.sync)
        self.evaluator = DriveEvaluator(self.fusion.taxonomy)
        self.types = rosbags_types()
        self.ground_truth: dict[int, dict] = {}  # stamp -> ground-truth messages
        self.predictions: dict[int, dict] = {}   # stamp -> camera result and / or (LiDAR result, scene)
        self.samples: dict = {}

    def run(self) -> ReplayResult:
        self.out.mkdir(parents=True, exist_ok=True)
        output_bag = self.out / 'replay'
        with BagReader(self.bag) as reader:
            if T.CAMERA_IMAGE not in reader.topics or T.LIDAR_POINTS not in reader.topics:
                raise BagError(f'{self.bag}: needs {T.CAMERA_IMAGE} and {T.LIDAR_POINTS} '
                               f'(it has {", ".join(sorted(reader.topics))})')
            sweeps = sum(1 for _ in reader.messages([T.LIDAR_POINTS]))
            total = min(sweeps, self.max_frames or sweeps)
            started = time.perf_counter()
            with BagWriter(output_bag) as writer:
                for topic, msgtype in {**reader.topics, **T.OUTPUT_TOPICS}.items():
                    writer.add_topic(topic, msgtype)
                self.writer = writer
                with tqdm(total=total, desc='replay', unit='frame', disable=not self.progress) as bar:
                    for topic, stamp, msg in reader.messages():
                        if self.evaluator.frames['lidar'] >= total and topic == T.LIDAR_POINTS:
                            break
                        writer.write(topic, stamp, msg)
                        self._dispatch(topic, stamp, msg, bar)
                    for item in self.matcher.ready(now_ns=0, flush=True):
                        self._fuse(*item)
                    for stamp in sorted(self.predictions):
                        self._evaluate(stamp, now_ns=stamp)
            wall = time.perf_counter() - started
        summary = self.evaluator.summary()
        summary['throughput_fps'] = round(self.evaluator.frames['lidar'] / wall, 2) if wall else None
        summary['wall_time_s'] = round(wall, 1)
        return ReplayResult(summary, output_bag, dict(self.evaluator.latency_ms), self.samples, self.evaluator)

    def _dispatch(self, topic: str, stamp: int, msg, bar) -> None:
        if topic in (T.GT_CAMERA_SEMANTIC, T.GT_CAMERA_INSTANCE, T.GT_LIDAR_POINTS):
            self.ground_truth.setdefault(stamp, {})[topic] = msg
        elif topic == T.CAMERA_IMAGE:
            self._camera(stamp, msg)
        elif topic == T.LIDAR_POINTS:
            self._lidar(stamp, msg)
            bar.update()
        for item in self.matcher.ready(now_ns=stamp):
            self._fuse(*item)
        for predicted in sorted(self.predictions):
            self._evaluate(predicted, now_ns=stamp)

    def _camera(self, stamp: int, msg) -> None:
        image = camera_input(msg)
        result = self.camera.process(image, stamp)
        overlay = self.camera.overlay(image, result.labels)
        outputs = {'labels': result.labels, 'confidence': result.confidence, 'overlay': overlay,
                   'panoptic': result.panoptic}
        images = camera_output_images(self.types, outputs, self.calibration.camera_frame, stamp)
        for name, image_msg in images.items():
            self.writer.write(CAMERA_OUTPUT_TOPICS[name], stamp, image_msg)
        self.evaluator.count_camera_frame(result.key_frame, result.timing_ms)
        self.predictions.setdefault(stamp, {})['camera'] = result
        if self.evaluator.frames['camera'] % self.sample_every == 1:
            self.samples.setdefault('camera', {})[stamp] = {'image': image.copy(), 'overlay': overlay,
                                                            'panoptic': result.panoptic}
        parts = ('labels', 'confidence') + (('panoptic',) if self.fusion.config.use_panoptic else ())
        self.matcher.add_camera(stamp, fusion_camera({part: images[part] for part in parts if part in images}))

    def _lidar(self, stamp: int, msg) -> None:
        points = lidar_input(msg)
        result = self.lidar.process(points)
        labeled = labeled_cloud(self.types, points, result, msg.header.frame_id, stamp)
        self.writer.write(T.LIDAR_LABELED, stamp, labeled)
        self.evaluator.count_sweep(result.timing_ms)
        self.matcher.add_sweep(stamp, (labeled, result), received_ns=stamp)

    def _fuse(self, stamp: int, sweep, camera: CameraOutputs | None) -> None:
        """Fuse as the fusion node does: from the lidar_segmentation output message and the camera's images."""
        labeled, lidar = sweep
        inputs, frame = fusion_sweep(labeled), labeled.header.frame_id
        result = self.fusion.process(inputs.points, inputs.labels, inputs.confidence, inputs.instance, camera,
                                     self.calibration.camera, self.calibration.camera_T_lidar)
        self.writer.write(T.SCENE, stamp, scene_cloud(self.types, result, frame, stamp))
        self.writer.write(T.SCENE_MARKERS, stamp, instance_markers(self.types, result.boxes, frame, stamp,
                                                                   self.fusion.taxonomy))
        self.evaluator.count_scene(result.camera_fused, result.timing_ms)
        level, message = scene_status(result)
        self.writer.write(T.DIAGNOSTICS, stamp, node_diagnostics(
            self.types, 'replay', stamp, level=level, message=message,
            timing_ms={f'fusion.{k}': v for k, v in result.timing_ms.items()}))
        self.predictions.setdefault(stamp, {})['scene'] = (lidar, result)
        if self.evaluator.frames['lidar'] % self.sample_every == 1:
            self.samples.setdefault('scene', {})[stamp] = result.points

    def _evaluate(self, stamp: int, now_ns: int) -> None:
        """Score whatever prediction of this stamp has its ground truth (topics arrive in any order)."""
        predicted, truth = self.predictions.get(stamp, {}), self.ground_truth.get(stamp, {})
        if 'camera' in predicted and T.GT_CAMERA_SEMANTIC in truth and T.GT_CAMERA_INSTANCE in truth:
            result = predicted.pop('camera')
            self.evaluator.add_camera(result.key_frame, result.labels, result.panoptic,
                                      image_to_array(truth[T.GT_CAMERA_SEMANTIC]),
                                      image_to_array(truth[T.GT_CAMERA_INSTANCE]).astype(np.int64))
        if 'scene' in predicted and T.GT_LIDAR_POINTS in truth:
            lidar, scene = predicted.pop('scene')
            label = pointcloud2_to_array(truth[T.GT_LIDAR_POINTS])['label']
            if len(label) == len(lidar.labels):
                semantic, instance = (part.astype(np.int64) for part in unpack_point_labels(label))
                self.evaluator.add_lidar(lidar.labels, lidar.instance, semantic, instance)
                self.evaluator.add_scene(scene.points['label'], scene.points['instance'], scene.camera_seen,
                                         scene.camera_point_labels, lidar.labels, semantic, instance)
        if not predicted:
            self.predictions.pop(stamp, None)
        for store in (self.predictions, self.ground_truth):
            for old in [s for s in store if s < now_ns - 10**9]:  # nothing will come for these any more
                del store[old]
