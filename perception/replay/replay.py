"""Offline replay: a recorded drive through the whole pipeline in stamp order, in one process and without DDS.

Camera frames go through the camera segmenter, sweeps through the LiDAR segmenter, and sweeps are paired with
camera frames by stamp exactly as the fusion node pairs them. Every output is written to a new bag next to the
input topics, and compared with the ground-truth topics when the recording has them.

The camera and LiDAR models run in a worker process each (with the `model.threads` of their node's parameters; a
process, not a thread: the sparse U-Net's many small operations would queue for the interpreter lock behind the
evaluation), so a frame's camera and LiDAR work, the next frames' and this process's fusion, evaluation and bag
writing overlap on different cores. Each model still sees its inputs in recording order, and the results are taken
in recording order, so the output is the sequential run's (`parallel=False`, models in this process) exactly.
"""
import multiprocessing
import signal
import time
from collections import deque
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.core.clouds import unpack_point_labels
from perception.core.device import single_threaded_blas, use_threads
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
    stopped: BaseException | None = None  # what ended the run early (KeyboardInterrupt, BagError); None: complete


# Model jobs submitted ahead of the message being written: about three frames of camera and LiDAR work.
LOOKAHEAD_JOBS = 6
# LiDAR worker processes: sweeps are independent, so two take alternate sweeps (the LiDAR is the longest job; with
# one worker the replay waits on it whatever the cores). The camera keeps one: its frames depend on the previous.
LIDAR_WORKERS = 2


def _load_configs(params: Path | None, backend: str | None):
    """The core configs of the three nodes, and the torch threads of the camera and LiDAR models."""
    configs = {}
    for node in ('camera_segmentation', 'lidar_segmentation', 'fusion'):
        parameters = load_parameters(node, params)
        if node == 'lidar_segmentation' and backend:
            parameters['model.backend'] = backend
        validate(node, parameters)
        configs[node] = parameters
    threads = {'camera': configs['camera_segmentation']['model.threads'],
               'lidar': configs['lidar_segmentation']['model.threads']}
    return (CameraSegmenterConfig.from_parameters(configs['camera_segmentation']),
            LidarSegmenterConfig.from_parameters(configs['lidar_segmentation']),
            SceneFusionConfig.from_parameters(configs['fusion']), threads)


def _partial_reason(stopped: BaseException | None, sweeps: int, total: int) -> str:
    """Why a run ended early, in one line ('' for a complete run)."""
    if stopped is None:
        return ''
    cause = 'interrupted' if isinstance(stopped, KeyboardInterrupt) else f'stopped by damaged data ({stopped})'
    return f'{cause} after {sweeps} of {total} sweeps'


_WORKER_MODEL = None  # a worker process's segmenter


def _in_worker(kind: str, config, threads: int, job, *args):
    """`job(model, *args)` with this worker process's model, loaded on its first job (so a loading error reaches the
    replay as the job's exception). Ctrl-C is the replay's to handle: the worker ignores it."""
    global _WORKER_MODEL
    if _WORKER_MODEL is None:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        single_threaded_blas()
        use_threads(threads)
        _WORKER_MODEL = CameraSegmenter(config) if kind == 'camera' else LidarSegmenter(config)
    return job(_WORKER_MODEL, *args)


def segment_image(camera: CameraSegmenter, image: np.ndarray, stamp: int):
    """The camera job: the segmentation of one frame and its overlay."""
    result = camera.process(image, stamp)
    return result, camera.overlay(image, result.labels)


def segment_sweep(lidar: LidarSegmenter, points: np.ndarray):
    """The LiDAR job: the segmentation of one sweep."""
    return lidar.process(points)


def _done(function, *args) -> Future:
    """`function(*args)` run now, as a finished Future (the sequential replay)."""
    future = Future()
    try:
        future.set_result(function(*args))
    except Exception as error:  # noqa: BLE001 - re-raised by future.result() where a threaded job's would be
        future.set_exception(error)
    return future


class Replay:
    def __init__(self, bag: Path, out: Path, params: Path | None = None, backend: str | None = None,
                 max_frames: int | None = None, sample_every: int = 20, progress: bool = True, parallel: bool = True,
                 skip_corrupt: bool = False):
        self.bag, self.out, self.skip_corrupt = Path(bag), Path(out), skip_corrupt
        self.max_frames, self.sample_every, self.progress, self.parallel = max_frames, sample_every, progress, parallel
        camera_config, lidar_config, fusion_config, self.threads = _load_configs(params, backend)
        self.configs = {'camera': camera_config, 'lidar': lidar_config}
        self.calibration = read_calibration(self.bag)
        # the models: in worker processes (parallel) or here
        self.models = {} if parallel else {'camera': CameraSegmenter(camera_config),
                                           'lidar': LidarSegmenter(lidar_config)}
        self.fusion = SceneFusion(fusion_config)
        self.matcher = StampMatcher(fusion_config.sync)
        self.evaluator = DriveEvaluator(self.fusion.taxonomy)
        self.types = rosbags_types()
        self.ground_truth: dict[int, dict] = {}  # stamp -> ground-truth messages
        self.predictions: dict[int, dict] = {}   # stamp -> camera result and / or (LiDAR result, scene)
        self.samples: dict = {}

    def run(self) -> ReplayResult:
        with single_threaded_blas():  # this process's numpy work waits for cores beside the model workers
            return self._run()

    def _run(self) -> ReplayResult:
        self.out.mkdir(parents=True, exist_ok=True)
        output_bag = self.out / 'replay'
        with BagReader(self.bag, skip_corrupt=self.skip_corrupt) as reader:
            if T.CAMERA_IMAGE not in reader.topics or T.LIDAR_POINTS not in reader.topics:
                raise BagError(f'{self.bag}: needs {T.CAMERA_IMAGE} and {T.LIDAR_POINTS} '
                               f'(it has {", ".join(sorted(reader.topics))})')
            with BagReader(self.bag, skip_corrupt=self.skip_corrupt) as counting:
                sweeps = sum(1 for _ in counting.messages([T.LIDAR_POINTS]))
            total = min(sweeps, self.max_frames or sweeps)
            started = time.perf_counter()
            spawn = multiprocessing.get_context('spawn')  # no fork of a process whose torch threads already run
            workers = {kind: ProcessPoolExecutor(LIDAR_WORKERS if kind == 'lidar' else 1, mp_context=spawn)
                       for kind in self.configs} if self.parallel else {}
            with BagWriter(output_bag) as writer:
                for topic, msgtype in {**reader.topics, **T.OUTPUT_TOPICS}.items():
                    writer.add_topic(topic, msgtype)
                self.writer = writer
                stopped = None
                try:
                    with tqdm(total=total, desc='replay', unit='frame', disable=not self.progress) as bar:
                        self._replay(reader, total, workers, bar)
                except (KeyboardInterrupt, BagError) as error:  # finish what was read: a partial run, marked
                    stopped = error
                finally:
                    for worker in workers.values():
                        worker.shutdown(cancel_futures=True)
                for item in self.matcher.ready(now_ns=0, flush=True):
                    self._fuse(*item)
                for stamp in sorted(self.predictions):
                    self._evaluate(stamp, now_ns=stamp)
                partial = _partial_reason(stopped, self.evaluator.frames['lidar'], total)
                if partial:
                    writer.set_custom_data('perception.partial', partial)
            wall = time.perf_counter() - started
        summary = self.evaluator.summary()
        summary['throughput_fps'] = round(self.evaluator.frames['lidar'] / wall, 2) if wall else None
        summary['wall_time_s'] = round(wall, 1)
        if partial:
            summary['partial'] = partial
        if reader.damage:
            summary['damaged'] = {'skipped_messages': dict(reader.skipped), 'where': reader.damage}
        return ReplayResult(summary, output_bag, dict(self.evaluator.latency_ms), self.samples, self.evaluator,
                            stopped)

    def _replay(self, reader: BagReader, total: int, workers: dict, bar) -> None:
        """Each message in recording order; model jobs start up to LOOKAHEAD_JOBS messages ahead of the one being
        dispatched, on the workers (or at once, without workers)."""
        pending = deque()  # (topic, stamp, msg, job input, Future or None) in recording order
        sweeps = 0

        def dispatch_first() -> None:
            topic, stamp, msg, data, job = pending.popleft()
            self._dispatch(topic, stamp, msg, None if job is None else (data, job.result()), bar)

        for topic, stamp, msg in reader.messages():
            if topic == T.LIDAR_POINTS:
                if sweeps == total:
                    break
                sweeps += 1
            job = data = None
            if topic in (T.CAMERA_IMAGE, T.LIDAR_POINTS):
                kind = 'camera' if topic == T.CAMERA_IMAGE else 'lidar'
                data = camera_input(msg) if kind == 'camera' else lidar_input(msg)
                function, args = (segment_image, (data, stamp)) if kind == 'camera' else (segment_sweep, (data,))
                if kind in workers:
                    job = workers[kind].submit(_in_worker, kind, self.configs[kind], self.threads[kind], function,
                                               *args)
                else:
                    use_threads(self.threads[kind])
                    job = _done(function, self.models[kind], *args)
            pending.append((topic, stamp, msg, data, job))
            while pending and (pending[0][4] is None or pending[0][4].done()
                               or sum(item[4] is not None for item in pending) > LOOKAHEAD_JOBS):
                dispatch_first()
        while pending:
            dispatch_first()

    def _dispatch(self, topic: str, stamp: int, msg, job_result, bar) -> None:
        self.writer.write(topic, stamp, msg)
        if topic in (T.GT_CAMERA_SEMANTIC, T.GT_CAMERA_INSTANCE, T.GT_LIDAR_POINTS):
            self.ground_truth.setdefault(stamp, {})[topic] = msg
        elif topic == T.CAMERA_IMAGE:
            image, (result, overlay) = job_result
            self._camera(stamp, image, result, overlay)
        elif topic == T.LIDAR_POINTS:
            points, result = job_result
            self._lidar(stamp, msg, points, result)
            bar.update()
        for item in self.matcher.ready(now_ns=stamp):
            self._fuse(*item)
        for predicted in sorted(self.predictions):
            self._evaluate(predicted, now_ns=stamp)

    def _camera(self, stamp: int, image: np.ndarray, result, overlay: np.ndarray) -> None:
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

    def _lidar(self, stamp: int, msg, points: np.ndarray, result) -> None:
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
