"""Ray casting over the world's meshes (open3d RaycastingScene) and the shaded, textured pinhole camera, with exact
per-pixel ground truth (the LiDAR: perception.sim.lidar)."""
from dataclasses import dataclass, fields

import numpy as np
import open3d as o3d

from perception.core.geometry import CameraIntrinsics
from perception.sim.materials import M, albedo, fbm
from perception.sim.meshes import Mesh


@dataclass
class Hits:
    """What each ray hit; t is inf for rays that hit nothing."""
    t: np.ndarray
    semantic: np.ndarray
    instance: np.ndarray
    material: np.ndarray
    color: np.ndarray
    normal: np.ndarray        # world normal, turned to face the ray
    local: np.ndarray         # hit point in the object's texture frame
    local_normal: np.ndarray  # face normal in the object's texture frame

    @property
    def hit(self) -> np.ndarray:
        return np.isfinite(self.t)

    def assign(self, index: np.ndarray, other: 'Hits') -> None:
        """Replace the hits at `index` by `other` (one hit per index)."""
        for field in fields(self):
            getattr(self, field.name)[index] = getattr(other, field.name)


def _scene(mesh: Mesh):
    scene = o3d.t.geometry.RaycastingScene()
    if mesh.num_triangles:
        scene.add_triangles(o3d.core.Tensor(mesh.vertices.astype(np.float32)),
                            o3d.core.Tensor(mesh.triangles.astype(np.uint32)))
    return scene


class Raycaster:
    """The static world in one scene (built once) and the moving agents in another (rebuilt per frame)."""

    def __init__(self, static: Mesh):
        self.static, self.static_scene = static, _scene(static)
        self.dynamic, self.dynamic_scene = static, None

    def set_dynamic(self, mesh: Mesh):
        self.dynamic, self.dynamic_scene = mesh, _scene(mesh)

    def cast(self, origins: np.ndarray, directions: np.ndarray) -> Hits:
        rays = o3d.core.Tensor(np.concatenate([np.broadcast_to(origins, directions.shape), directions], 1)
                               .astype(np.float32))
        results = [(mesh, scene.cast_rays(rays)) for mesh, scene in ((self.static, self.static_scene),
                                                                     (self.dynamic, self.dynamic_scene)) if scene]
        n = len(directions)
        t = np.full(n, np.inf, np.float32)
        hits = Hits(t, np.zeros(n, np.uint8), np.zeros(n, np.uint32), np.zeros(n, np.uint8),
                    np.zeros((n, 3), np.float32), np.zeros((n, 3), np.float32), np.zeros((n, 3)), np.zeros((n, 3)))
        for mesh, result in results:
            t_mesh = result['t_hit'].numpy()
            closer = np.isfinite(t_mesh) & (t_mesh < hits.t)
            if not closer.any():
                continue
            triangle = result['primitive_ids'].numpy()[closer].astype(np.int64)
            hits.t[closer] = t_mesh[closer]
            hits.semantic[closer] = mesh.semantic[triangle]
            hits.instance[closer] = mesh.instance[triangle]
            hits.material[closer] = mesh.material[triangle]
            hits.color[closer] = mesh.color[triangle]
            hits.normal[closer] = result['primitive_normals'].numpy()[closer]
            corners = mesh.local[mesh.triangles[triangle]]  # (K, 3 corners, 3)
            u, v = result['primitive_uvs'].numpy()[closer].T
            hits.local[closer] = (1 - u - v)[:, None] * corners[:, 0] + u[:, None] * corners[:, 1] + \
                v[:, None] * corners[:, 2]
            face = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
            hits.local_normal[closer] = face / np.maximum(np.linalg.norm(face, axis=1, keepdims=True), 1e-12)
        facing_away = np.einsum('ij,ij->i', hits.normal, directions) > 0
        hits.normal[facing_away] *= -1
        return hits

    def occluded(self, origins: np.ndarray, directions: np.ndarray) -> np.ndarray:
        rays = o3d.core.Tensor(np.concatenate([origins, directions], 1).astype(np.float32))
        blocked = self.static_scene.test_occlusions(rays).numpy().astype(bool)
        if self.dynamic_scene:
            blocked |= self.dynamic_scene.test_occlusions(rays).numpy().astype(bool)
        return blocked


def texture_coordinates(hits: Hits, mask: np.ndarray):
    """(a, b): ground-like faces use the object's (x, y); walls use (distance along the face, height)."""
    p, n = hits.local[mask], hits.local_normal[mask]
    horizontal = np.abs(n[:, 2]) > 0.7
    tangent = np.stack([-n[:, 1], n[:, 0]], 1)
    tangent /= np.maximum(np.linalg.norm(tangent, axis=1, keepdims=True), 1e-9)
    along = np.einsum('ij,ij->i', p[:, :2], tangent)
    return np.where(horizontal, p[:, 0], along), np.where(horizontal, p[:, 1], p[:, 2])


def sky_colour(directions: np.ndarray, lighting: dict, seed: int) -> np.ndarray:
    elevation = np.clip(directions[:, 2], 0.0, 1.0)
    blend = (elevation / 0.5).clip(0, 1) ** 0.7
    colour = lighting['horizon'] * (1 - blend[:, None]) + lighting['zenith'] * blend[:, None]
    up = np.maximum(directions[:, 2], 0.02)
    clouds = fbm(directions[:, 0] / up * 1.5, directions[:, 1] / up * 1.5, 4, seed)
    cover = np.clip((clouds - (1 - lighting['clouds'])) * 3, 0, 1) * (directions[:, 2] > 0)
    return colour * (1 - cover[:, None]) + np.array([0.92, 0.92, 0.94]) * cover[:, None]


def render_camera(caster: Raycaster, camera: CameraIntrinsics, world_T_camera: np.ndarray, sun: np.ndarray,
                  lighting: dict, sky_id: int, rng: np.random.Generator, texture_seed: int):
    """Ray-cast one image. world_T_camera maps the optical frame (z forward, x right, y down) to the world.

    Returns rgb (H, W, 3) uint8, semantic (H, W) uint8, instance (H, W) uint16 and depth (H, W) float32
    (distance along the optical axis, +inf where nothing was hit).
    """
    h, w = camera.height, camera.width
    u, v = np.meshgrid(np.arange(w, dtype=float), np.arange(h, dtype=float))
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)], -1).reshape(-1, 3)
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    directions = rays @ world_T_camera[:3, :3].T
    origin = world_T_camera[:3, 3]
    hits = caster.cast(origin[None], directions)
    hit = hits.hit

    rgb = np.empty((h * w, 3), np.float32)
    rgb[~hit] = sky_colour(directions[~hit], lighting, texture_seed)
    a, b = texture_coordinates(hits, hit)
    base = albedo(hits.material[hit], hits.color[hit], a, b, texture_seed)
    points = origin + directions[hit] * hits.t[hit, None]
    normals = hits.normal[hit]
    lambert = np.clip(normals @ sun, 0.0, 1.0)
    lit = lambert > 0
    shadow_origins = points[lit] + normals[lit] * 0.02
    lambert[np.flatnonzero(lit)[caster.occluded(shadow_origins, np.broadcast_to(sun, shadow_origins.shape))]] = 0
    shade = lighting['ambient'] * (0.75 + 0.25 * normals[:, 2]) + lighting['sun'] * lambert
    colour = base * shade[:, None]
    lamps = hits.material[hit] == M.LAMP
    colour[lamps] = hits.color[hit][lamps]
    rgb[hit] = colour
    exposure = lighting['exposure'] * rng.uniform(0.97, 1.03)
    rgb = rgb * exposure + rng.normal(0, 0.012, rgb.shape)
    image = (np.clip(rgb, 0, 1) * 255 + 0.5).astype(np.uint8).reshape(h, w, 3)

    semantic = np.where(hit, hits.semantic, sky_id).astype(np.uint8).reshape(h, w)
    instance = hits.instance.astype(np.uint16).reshape(h, w)
    depth = (hits.t * rays[:, 2]).astype(np.float32).reshape(h, w)
    return image, semantic, instance, depth
