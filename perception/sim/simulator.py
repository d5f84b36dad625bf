"""The drive: a world, a sensor rig on the ego vehicle, and frames of camera + LiDAR data with ground truth."""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml
from scipy.spatial.transform import Rotation

from perception.core.geometry import CameraIntrinsics, invert_transform
from perception.paths import config_path
from perception.sim.meshes import concat
from perception.sim.lidar import LidarSpec, Reflectance, jittered_mounting, load_lidars, scan_lidar
from perception.sim.sensors import CameraLook, Raycaster, render_camera
from perception.sim.world import build_world
from perception.splits import SeedSplits
from perception.taxonomy import load_taxonomy

# optical frame axes expressed in the camera body frame (x forward, y left, z up): REP 103
BODY_R_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def _pose(xyz, rpy) -> np.ndarray:
    T = np.eye(4)
    T[:3, :3] = Rotation.from_euler('xyz', rpy).as_matrix()
    T[:3, 3] = xyz
    return T


@dataclass(frozen=True, eq=False)
class SensorRig:
    camera: CameraIntrinsics
    lidar: LidarSpec
    base_T_lidar: np.ndarray   # 4x4, the LiDAR model's nominal mounting (each drive jitters it)
    base_T_camera: np.ndarray  # 4x4, to the camera optical frame
    frames: dict               # frame ids: odom, base, lidar, camera
    rate_hz: float
    start_ns: int
    splits: SeedSplits         # seed ranges of train / val / eval drives and the demo seed
    reflectance: Reflectance   # LiDAR return statistics per material
    mount_jitter: dict         # per-drive LiDAR mounting jitter (config/lidars.yaml)
    camera_looks: dict         # ranges of each drive's light and camera (`camera_look`)
    camera_randomise: dict     # ranges of the materials' randomised appearance (`randomise.camera`)
    randomise: bool = False    # draw materials, colours and sensor responses anew per drive

    @classmethod
    def from_config(cls, path: Path | None = None, width: int | None = None, height: int | None = None,
                    lidar: str | None = None, randomise: bool = False):
        """The rig of a simulator config with the LiDAR model `lidar` (default: config/lidars.yaml's)."""
        with open(path or config_path('simulator.yaml')) as f:
            cfg = yaml.safe_load(f)
        lidars = load_lidars()
        spec = lidars.get(lidar)
        kitti = cfg['camera']['kitti']
        reference = CameraIntrinsics.pinhole(kitti['width'], kitti['height'], kitti['fx'], kitti['fy'], kitti['cx'],
                                             kitti['cy'])
        camera = reference.scaled(width or cfg['camera']['width'], height or cfg['camera']['height'])
        base_T_camera = _pose(**cfg['rig']['camera'])
        base_T_camera[:3, :3] = base_T_camera[:3, :3] @ BODY_R_OPTICAL
        base_T_lidar = _pose([*cfg['rig']['lidar']['xy'], spec.mount_height],
                             [0.0, np.radians(spec.mount_pitch_deg), 0.0])
        return cls(camera=camera, lidar=spec, base_T_lidar=base_T_lidar,
                   base_T_camera=base_T_camera, frames=dict(cfg['rig']['frames']), rate_hz=float(cfg['rate_hz']),
                   start_ns=int(cfg['start_time_s'] * 1e9), splits=SeedSplits.from_config(cfg['seeds']),
                   reflectance=Reflectance.from_config(cfg['reflectance'], cfg['randomise']['lidar']),
                   mount_jitter=lidars.mount_jitter, camera_looks=cfg['camera_look'],
                   camera_randomise=cfg['randomise']['camera'], randomise=randomise)


@dataclass
class SimFrame:
    index: int
    stamp_ns: int
    odom_T_base: np.ndarray      # 4x4
    image: np.ndarray            # (H, W, 3) uint8 rgb
    semantic: np.ndarray         # (H, W) uint8 taxonomy ids
    instance: np.ndarray         # (H, W) uint16, 0 for stuff
    depth: np.ndarray            # (H, W) float32 metres along the optical axis, inf for sky
    points: np.ndarray           # structured (x, y, z, intensity, ring) in the lidar frame
    point_semantic: np.ndarray   # (N,) uint8
    point_instance: np.ndarray   # (N,) uint32


class DriveSimulator:
    """Seeded drive of `frames` frames: the same seed and arguments give the same frames."""

    def __init__(self, seed: int, frames: int, rig: SensorRig | None = None):
        if frames < 1:
            raise ValueError(f'frames must be at least 1, got {frames}')
        self.seed, self.frames = seed, frames
        rig = rig or SensorRig.from_config()
        drive_rng = np.random.default_rng([seed, 1, 0])  # per-drive sensor draws (frames use [seed, index])
        self.rig = replace(rig, base_T_lidar=jittered_mounting(rig.base_T_lidar, rig.mount_jitter, drive_rng),
                           lidar=rig.lidar.unit(np.random.default_rng([seed, 1, 2])))  # this drive's sensor unit
        # ground cover from its own stream, so that the camera's draws after it stay those of earlier versions
        self.reflectance = rig.reflectance.for_drive(drive_rng, rig.randomise, np.random.default_rng([seed, 1, 1]))
        self.look = CameraLook.for_drive(drive_rng, rig.camera_looks, rig.camera_randomise if rig.randomise else None)
        self.world = build_world(seed, frames / self.rig.rate_hz)
        self.caster = Raycaster(self.world.static)
        self.sky_id = load_taxonomy().id_of('sky')
        self.world_T_odom = self.world_T_base(0.0)

    def world_T_base(self, t: float) -> np.ndarray:
        """The ego's pose: in its lane, on the crowned carriageway and rolled by its cross slope."""
        x, y, heading = self.world.route.pose(self.world.ego_distance(t), self.world.ego_lane)
        section = self.world.section
        roll = np.arctan(section.crown / -section.right_edge)  # the ego's lane rises towards the centreline
        c, s, cr, sr = np.cos(heading), np.sin(heading), np.cos(roll), np.sin(roll)
        return np.array([[c, -s * cr, s * sr, x], [s, c * cr, -c * sr, y], [0, sr, cr, float(section.surface(
            self.world.ego_lane))], [0, 0, 0, 1.0]])

    def frame(self, index: int) -> SimFrame:
        if not 0 <= index < self.frames:
            raise IndexError(f'frame {index} outside 0..{self.frames - 1}')
        t = index / self.rig.rate_hz
        rng = np.random.default_rng([self.seed, index])
        self.caster.set_dynamic(concat([agent.mesh_at(t) for agent in self.world.agents]))
        world_T_base = self.world_T_base(t)
        image, semantic, instance, depth = render_camera(
            self.caster, self.rig.camera, world_T_base @ self.rig.base_T_camera, self.world.sun,
            self.look, self.sky_id, rng, texture_seed=self.seed)
        points, point_semantic, point_instance = scan_lidar(self.caster, self.rig.lidar, self.reflectance,
                                                            world_T_base @ self.rig.base_T_lidar, rng, self.seed)
        stamp = self.rig.start_ns + int(round(t * 1e9))
        return SimFrame(index, stamp, invert_transform(self.world_T_odom) @ world_T_base, image, semantic, instance,
                        depth, points, point_semantic, point_instance)

    def __iter__(self):
        return (self.frame(i) for i in range(self.frames))
