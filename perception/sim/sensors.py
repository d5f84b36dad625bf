"""Ray casting over the world's meshes (open3d RaycastingScene) and the shaded, textured pinhole camera, with exact
per-pixel ground truth (the LiDAR: perception.sim.lidar)."""
from dataclasses import dataclass, fields

import cv2
import numpy as np
import open3d as o3d

from perception.core.geometry import CameraIntrinsics
from perception.sim.materials import M, TextureLook, albedo, fbm, luminance, value_noise
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


@dataclass(frozen=True)
class CameraLook:
    """A drive's light and camera: sky, sun and sky light, auto exposure, white balance, lens and sensor, and the
    materials' appearance (randomised per drive with --randomise)."""
    sky: str
    zenith: np.ndarray        # sky colour straight up
    horizon: np.ndarray       # sky colour at the horizon
    clouds: float             # cloud cover in [0, 1] (1: overcast)
    sun: float                # direct sunlight
    ambient: float            # sky light
    exposure: float           # auto exposure's target mean brightness
    white_balance: np.ndarray  # per-channel gains
    saturation: float
    blur: float               # Gaussian sigma, pixels
    vignetting: float         # brightness lost in the image corners
    noise: float              # sensor noise sigma at mid grey
    jpeg: int                 # JPEG quality of the written frame
    textures: TextureLook

    @classmethod
    def for_drive(cls, rng: np.random.Generator, config: dict, randomise: dict | None) -> 'CameraLook':
        """Draw a drive's look from the `camera_look` config ranges; `randomise` (the `randomise.camera` ranges)
        also draws every material's colours and textures."""
        skies = config['skies']
        sky = str(rng.choice(list(skies), p=[entry['share'] for entry in skies.values()]))
        entry = skies[sky]
        tint = rng.uniform(0.96, 1.04)
        return cls(sky, np.asarray(entry['zenith']) * tint, np.asarray(entry['horizon']) * tint,
                   float(rng.uniform(*entry['clouds'])), float(rng.uniform(*entry['sun'])),
                   float(rng.uniform(*entry['ambient'])), float(rng.uniform(*config['exposure'])),
                   1 + rng.uniform(-1, 1, 3) * config['white_balance'], float(rng.uniform(*config['saturation'])),
                   float(rng.uniform(*config['blur_px'])), float(rng.uniform(*config['vignetting'])),
                   float(rng.uniform(*config['noise'])), int(rng.integers(*config['jpeg_quality'], endpoint=True)),
                   TextureLook.random(rng, randomise) if randomise else TextureLook.identity())


def sky_colour(directions: np.ndarray, look: CameraLook, seed: int) -> np.ndarray:
    """Sky radiance along unit directions: a horizon-to-zenith gradient under clouds (bright tops, grey bases)."""
    elevation = np.clip(directions[:, 2], 0.0, 1.0)
    blend = (elevation / 0.6).clip(0, 1) ** 0.6
    colour = look.horizon * (1 - blend[:, None]) + look.zenith * blend[:, None]
    up = np.maximum(directions[:, 2], 0.03)
    clouds = fbm(directions[:, 0] / up * 1.2, directions[:, 1] / up * 1.2, 4, seed)
    cover = np.clip((clouds - (1 - look.clouds)) * 4, 0, 1) * (directions[:, 2] > 0)
    shading = 0.97 - 0.22 * np.clip(clouds - 0.45, 0, 1)[:, None]  # thick clouds are greyer
    cloud = np.array([1.0, 1.0, 1.02]) * shading
    return colour * (1 - cover[:, None]) + cloud * cover[:, None]


def _bumped(normals: np.ndarray, points: np.ndarray, amount: np.ndarray, seed: int) -> np.ndarray:
    """Normals tilted by smooth noise of the hit position (leaves, bark): mottled shading."""
    tilt = np.stack([value_noise(points[:, 0] / 0.15 + k * 7.1, points[:, 2] / 0.15 + points[:, 1] / 0.15, seed + k)
                     for k in range(3)], 1) - 0.5
    bumped = normals + 2 * amount[:, None] * tilt
    return bumped / np.maximum(np.linalg.norm(bumped, axis=1, keepdims=True), 1e-9)


def render_camera(caster: Raycaster, camera: CameraIntrinsics, world_T_camera: np.ndarray, sun: np.ndarray,
                  look: CameraLook, sky_id: int, rng: np.random.Generator, texture_seed: int):
    """Ray-cast one image. world_T_camera maps the optical frame (z forward, x right, y down) to the world.

    Radiance (sun with ray-cast shadows and cloud shadows, sky light, Fresnel reflections of the sky on glass and
    paint, sun glints) goes through the camera: auto exposure, a highlight shoulder, white balance, saturation,
    vignetting, lens blur, sensor noise and JPEG compression.
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
    rgb[~hit] = sky_colour(directions[~hit], look, texture_seed)
    material = hits.material[hit]
    a, b = texture_coordinates(hits, hit)
    base, mirror = albedo(material, hits.color[hit], a, b, texture_seed, look.textures)
    points = origin + directions[hit] * hits.t[hit, None]
    normals = hits.normal[hit]
    rough = np.select([material == M.FOLIAGE, material == M.BARK, material == M.GRASS], [0.9, 0.4, 0.3], 0.0)
    shading_normals = np.where(rough[:, None] > 0, _bumped(normals, points, rough, texture_seed), normals)
    lambert = np.clip(shading_normals @ sun, 0.0, 1.0) * (normals @ sun > 0)
    lit = lambert > 0
    shadow_origins = points[lit] + normals[lit] * 0.02
    lambert[np.flatnonzero(lit)[caster.occluded(shadow_origins, np.broadcast_to(sun, shadow_origins.shape))]] = 0
    # soft-edged cloud shadows drifting over the ground (clouds' fbm at 60 m)
    cloud_shadow = np.clip((fbm(points[:, 0] / 60, points[:, 1] / 60, 3, texture_seed + 7) - 1 + look.clouds) * 1.5,
                           0, 1)
    direct = look.sun * lambert * (1 - 0.7 * cloud_shadow)
    sky_light = look.ambient * (0.6 + 0.4 * shading_normals[:, 2])
    colour = base * (sky_light + direct)[:, None]
    shiny = mirror > 0
    if shiny.any():
        d, n = directions[hit][shiny], normals[shiny]
        cos_view = np.clip(-np.einsum('ij,ij->i', d, n), 0, 1)
        fresnel = mirror[shiny] + (1 - mirror[shiny]) * (1 - cos_view) ** 5
        reflected = d + 2 * cos_view[:, None] * n
        environment = np.where(reflected[:, 2:] > 0, sky_colour(reflected, look, texture_seed),
                               0.25 * look.ambient)
        glint = direct[shiny] * np.clip(reflected @ sun, 0, 1) ** 200 * 6
        colour[shiny] = colour[shiny] * (1 - fresnel[:, None]) + (environment + glint[:, None]) * fresnel[:, None]
    lamps = material == M.LAMP
    colour[lamps] = hits.color[hit][lamps]
    rgb[hit] = colour
    image = _photograph(rgb.reshape(h, w, 3), look, rng)

    semantic = np.where(hit, hits.semantic, sky_id).astype(np.uint8).reshape(h, w)
    instance = hits.instance.astype(np.uint16).reshape(h, w)
    depth = (hits.t * rays[:, 2]).astype(np.float32).reshape(h, w)
    return image, semantic, instance, depth


def _shoulder(x: np.ndarray, knee: float = 0.75) -> np.ndarray:
    """The tone curve: linear up to the knee, then rolling off towards 1 (highlights keep some detail)."""
    return np.where(x < knee, x, knee + (1 - knee) * (1 - np.exp(-(x - knee) / (1 - knee))))


def _photograph(radiance: np.ndarray, look: CameraLook, rng: np.random.Generator) -> np.ndarray:
    """What the camera writes for a (H, W, 3) radiance image: uint8 rgb."""
    h, w = radiance.shape[:2]
    target, metered = look.exposure * rng.uniform(0.96, 1.04), luminance(radiance[::4, ::4])
    exposure = target / max(float(metered.mean()), 1e-3)
    for _ in range(3):  # auto exposure meters what it writes (after the shoulder)
        exposure *= target / max(float(_shoulder(metered * exposure).mean()), 1e-3)
    x = _shoulder(radiance * exposure) * look.white_balance
    grey = luminance(x)[..., None]
    x = grey + look.saturation * (x - grey)
    yy, xx = np.mgrid[0:h, 0:w]
    corner = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2) / ((w / 2) ** 2 + (h / 2) ** 2)
    x = x * (1 - look.vignetting * corner)[..., None]
    x = cv2.GaussianBlur(x.astype(np.float32), (0, 0), look.blur)
    x = x + rng.normal(0, 1, x.shape) * look.noise * np.sqrt(0.3 + np.clip(x, 0, 1)) / np.sqrt(0.8)
    image = (np.clip(x, 0, 1) * 255 + 0.5).astype(np.uint8)
    _, encoded = cv2.imencode('.jpg', image[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, look.jpeg])  # expects BGR
    return np.ascontiguousarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR)[..., ::-1])
