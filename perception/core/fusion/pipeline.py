"""One sweep + (optionally) one camera frame -> the labeled scene: what the fusion node and offline replay run."""
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from perception.core.device import StageTimer
from perception.core.fusion.calibration import load_calibration
from perception.core.fusion.fuse import FusionConfig, fuse_scene
from perception.core.fusion.projection import OcclusionConfig, project_to_image
from perception.core.fusion.scene import InstanceBox, instance_boxes, scene_points
from perception.core.fusion.sync import SyncConfig
from perception.core.geometry import CameraIntrinsics
from perception.core.parameters import section
from perception.taxonomy import load_taxonomy


@dataclass(frozen=True, kw_only=True)
class SceneFusionConfig:
    fusion: FusionConfig
    sync: SyncConfig = field(default_factory=SyncConfig)
    use_panoptic: bool = True
    markers: bool = True

    @classmethod
    def from_parameters(cls, parameters: dict) -> 'SceneFusionConfig':
        """From the fusion node's flat parameters (config/perception.yaml) and the calibration file they name."""
        fusion = section(parameters, 'fusion')
        calibration = load_calibration(Path(fusion['calibration_file']) if fusion['calibration_file'] else None)
        return cls(fusion=FusionConfig(calibration=calibration, min_split_points=fusion['min_split_points'],
                                       occlusion=OcclusionConfig(**section(parameters, 'occlusion'))),
                   sync=SyncConfig(**section(parameters, 'sync')), use_panoptic=fusion['use_panoptic'],
                   markers=parameters['markers.enabled'])


@dataclass
class CameraOutputs:
    """One camera frame's segmentation, as the fusion input."""
    labels: np.ndarray             # (H, W) uint8
    confidence: np.ndarray         # (H, W) float32
    panoptic: np.ndarray | None    # (H, W) int32 class * 1000 + instance


@dataclass
class SceneResult:
    points: np.ndarray             # (N,) SCENE_POINT
    boxes: list[InstanceBox]
    camera_fused: bool             # False: LiDAR-only
    camera_seen: np.ndarray        # (N,) bool: points the camera sees (their labels are fused)
    camera_point_labels: np.ndarray  # (N,) uint8: the camera's label at seen points, ignore elsewhere
    timing_ms: dict
    lidar_only_reason: str = ''    # why the camera frame was not used ('' when camera_fused)


class SceneFusion:
    def __init__(self, config: SceneFusionConfig):
        self.config = config
        self.taxonomy = load_taxonomy()

    def process(self, points: np.ndarray, lidar_labels: np.ndarray, lidar_confidence: np.ndarray,
                lidar_instance: np.ndarray, camera: CameraOutputs | None = None,
                camera_model: CameraIntrinsics | None = None, camera_T_lidar: np.ndarray | None = None
                ) -> SceneResult:
        """points (N, 4) x, y, z, intensity in the LiDAR frame with the LiDAR model's per-point outputs; the
        camera frame is used when it, its intrinsics and the LiDAR->camera transform are all given and fit together
        (else the scene is LiDAR-only, with the reason). ValueError for LiDAR inputs that make no scene."""
        self._check_sweep(points, lidar_labels, lidar_confidence, lidar_instance)
        timer = StageTimer('cpu')  # numpy only
        reason = self.lidar_only_reason(camera, camera_model, camera_T_lidar)
        use_camera = not reason
        projection = None
        if use_camera:
            with timer('projection'):
                projection = project_to_image(points[:, :3], camera_model, camera_T_lidar,
                                              self.config.fusion.occlusion)
        with timer('fusion'):
            panoptic = camera.panoptic if use_camera and self.config.use_panoptic else None
            scene = fuse_scene(points[:, :3], lidar_labels, lidar_confidence, lidar_instance, projection,
                               camera.labels if use_camera else None, camera.confidence if use_camera else None,
                               panoptic, self.taxonomy, self.config.fusion)
        with timer('scene'):
            boxes = instance_boxes(points[:, :3], scene.labels, scene.instance) if self.config.markers else []
            cloud = scene_points(points, scene, self.taxonomy)
        return SceneResult(points=cloud, boxes=boxes, camera_fused=use_camera, camera_seen=scene.camera_seen,
                           camera_point_labels=scene.camera_labels, timing_ms=timer.finish(),
                           lidar_only_reason=reason)

    def _check_sweep(self, points, labels, confidence, instance) -> None:
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] != 4:
            raise ValueError(f'sweep points must be (N, 4) x, y, z, intensity, got shape {points.shape}')
        lengths = {len(points), len(labels), len(confidence), len(instance)}
        if len(lengths) > 1:
            raise ValueError(f'sweep has {len(points)} points but {len(labels)} labels, {len(confidence)} '
                             f'confidences and {len(instance)} instance ids')
        bad = (labels >= self.taxonomy.num_classes) & (labels != self.taxonomy.ignore_id)
        if bad.any():
            raise ValueError(f'sweep has labels outside the taxonomy ({int(labels[bad][0])}; '
                             f'{self.taxonomy.num_classes} classes, ignore {self.taxonomy.ignore_id})')

    def lidar_only_reason(self, camera: CameraOutputs | None, camera_model: CameraIntrinsics | None,
                          camera_T_lidar: np.ndarray | None) -> str:
        """Why this camera frame cannot be fused with a sweep ('' when it can)."""
        if camera is None:
            return 'no camera frame within the slop'
        if camera_model is None:
            return 'no camera_info'
        if camera_T_lidar is None:
            return 'no LiDAR->camera transform'
        transform = np.asarray(camera_T_lidar)
        if transform.shape != (4, 4) or not np.isfinite(transform).all():
            return 'LiDAR->camera transform is not a finite 4x4 matrix'
        outputs = {'labels': camera.labels, 'confidence': camera.confidence}
        if self.config.use_panoptic and camera.panoptic is not None:
            outputs['panoptic'] = camera.panoptic
        shapes = {name: np.shape(array) for name, array in outputs.items()}
        if len(set(shapes.values())) > 1 or len(shapes['labels']) != 2:
            return 'camera outputs differ in size (' + ', '.join(f'{n} {s}' for n, s in shapes.items()) + ')'
        height, width = shapes['labels']
        if (height, width) != (camera_model.height, camera_model.width):
            return (f'camera frame is {width}x{height} but camera_info says '
                    f'{camera_model.width}x{camera_model.height}')
        if camera.labels.dtype.kind not in 'ui' or (camera.labels.size and
                                                    camera.labels.max() >= self.taxonomy.num_classes):
            return f'camera labels outside the taxonomy ({self.taxonomy.num_classes} classes)'
        if not np.isfinite(camera.confidence).all():
            return 'camera confidence is not finite'
        return ''
