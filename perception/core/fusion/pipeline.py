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


class SceneFusion:
    def __init__(self, config: SceneFusionConfig):
        self.config = config
        self.taxonomy = load_taxonomy()

    def process(self, points: np.ndarray, lidar_labels: np.ndarray, lidar_confidence: np.ndarray,
                lidar_instance: np.ndarray, camera: CameraOutputs | None = None,
                camera_model: CameraIntrinsics | None = None, camera_T_lidar: np.ndarray | None = None
                ) -> SceneResult:
        """points (N, 4) x, y, z, intensity in the LiDAR frame with the LiDAR model's per-point outputs; the
        camera frame is used when it, its intrinsics and the LiDAR->camera transform are all given."""
        timer = StageTimer('cpu')  # numpy only
        use_camera = camera is not None and camera_model is not None and camera_T_lidar is not None
        if use_camera and camera.labels.shape != (camera_model.height, camera_model.width):
            raise ValueError(f'camera labels are {camera.labels.shape[1]}x{camera.labels.shape[0]} but the '
                             f'calibration is for {camera_model.width}x{camera_model.height}')
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
                           camera_point_labels=scene.camera_labels, timing_ms=timer.finish())
