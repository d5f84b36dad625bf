"""Triangle meshes with per-triangle ground truth (class, instance, material, colour) and per-vertex texture
coordinates in the object's own frame, so textures stay attached to moving objects."""
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import open3d as o3d


@dataclass
class Mesh:
    vertices: np.ndarray   # (V, 3) float64, world frame (object frame before placement)
    local: np.ndarray      # (V, 3) float64, object-frame coordinates used for texturing
    triangles: np.ndarray  # (T, 3) int64
    semantic: np.ndarray   # (T,) uint8, taxonomy id
    instance: np.ndarray   # (T,) uint32, 0 for stuff
    material: np.ndarray   # (T,) uint8, index into sim.materials.MATERIALS
    color: np.ndarray      # (T, 3) float32, base albedo in [0, 1]

    def transformed(self, T: np.ndarray) -> 'Mesh':
        """The mesh placed by a 4x4 transform (texture coordinates unchanged)."""
        vertices = self.vertices @ T[:3, :3].T + T[:3, 3]
        return Mesh(vertices, self.local, self.triangles, self.semantic, self.instance, self.material, self.color)

    @property
    def num_triangles(self) -> int:
        return len(self.triangles)


def concat(meshes: list[Mesh]) -> Mesh:
    meshes = [m for m in meshes if m.num_triangles]
    if not meshes:
        return empty_mesh()
    starts = np.cumsum([0] + [len(m.vertices) for m in meshes[:-1]])
    return Mesh(
        np.concatenate([m.vertices for m in meshes]),
        np.concatenate([m.local for m in meshes]),
        np.concatenate([m.triangles + s for m, s in zip(meshes, starts)]),
        np.concatenate([m.semantic for m in meshes]),
        np.concatenate([m.instance for m in meshes]),
        np.concatenate([m.material for m in meshes]),
        np.concatenate([m.color for m in meshes]))


def empty_mesh() -> Mesh:
    return Mesh(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3), np.int64), np.zeros(0, np.uint8),
                np.zeros(0, np.uint32), np.zeros(0, np.uint8), np.zeros((0, 3), np.float32))


def tagged(vertices, triangles, semantic: int, instance: int, material: int, color) -> Mesh:
    """A mesh whose triangles all carry the same ground truth; texture frame = the given vertices."""
    vertices = np.asarray(vertices, float)
    triangles = np.asarray(triangles, np.int64)
    n = len(triangles)
    return Mesh(vertices, vertices.copy(), triangles, np.full(n, semantic, np.uint8), np.full(n, instance, np.uint32),
                np.full(n, material, np.uint8), np.tile(np.asarray(color, np.float32), (n, 1)))


@lru_cache(maxsize=None)
def _unit(shape: str, resolution: int):
    """Unit primitives from open3d: a [0,1]^3 box, a cylinder and a sphere of radius 1 (z from 0 to 1 for the
    cylinder, centred for the sphere)."""
    if shape == 'box':
        mesh = o3d.geometry.TriangleMesh.create_box(1.0, 1.0, 1.0)
    elif shape == 'cylinder':
        mesh = o3d.geometry.TriangleMesh.create_cylinder(1.0, 1.0, resolution, 1)
        mesh.translate((0, 0, 0.5))
    elif shape == 'sphere':
        mesh = o3d.geometry.TriangleMesh.create_sphere(1.0, resolution)
    elif shape == 'cone':
        mesh = o3d.geometry.TriangleMesh.create_cone(1.0, 1.0, resolution, 1)
    else:
        raise ValueError(shape)
    return np.asarray(mesh.vertices).copy(), np.asarray(mesh.triangles).astype(np.int64)


def box(lo, hi):
    """Axis-aligned box from corner lo to corner hi: (vertices, triangles)."""
    vertices, triangles = _unit('box', 0)
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return vertices * (hi - lo) + lo, triangles


def cylinder(radius: float, z0: float, z1: float, center=(0.0, 0.0), resolution: int = 10):
    """Vertical cylinder (or, with two radii, an elliptic one) from height z0 to z1."""
    vertices, triangles = _unit('cylinder', resolution)
    r = np.broadcast_to(np.asarray(radius, float), (2,))
    return vertices * [r[0], r[1], z1 - z0] + [center[0], center[1], z0], triangles


def ellipsoid(radii, center, resolution: int = 6):
    vertices, triangles = _unit('sphere', resolution)
    return vertices * np.asarray(radii, float) + np.asarray(center, float), triangles


def cone(radius: float, height: float, base_center, resolution: int = 10):
    vertices, triangles = _unit('cone', resolution)
    return vertices * [radius, radius, height] + np.asarray(base_center, float), triangles


def oriented(vertices: np.ndarray, yaw: float = 0.0, pitch: float = 0.0, roll: float = 0.0,
             translation=(0.0, 0.0, 0.0)) -> np.ndarray:
    """Rotate vertices by roll (x), pitch (y), yaw (z), in that order, then translate."""
    cr, sr, cp, sp, cy, sy = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch), np.cos(yaw), np.sin(yaw)
    R = (np.array([[cy, -sy, 0], [sy, cy, 0], [0, 0, 1]]) @ np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]])
         @ np.array([[1, 0, 0], [0, cr, -sr], [0, sr, cr]]))
    return vertices @ R.T + np.asarray(translation, float)


def strip(left: np.ndarray, right: np.ndarray):
    """Quads between two polylines of equal length (M, 3): the surface of a road, kerb or marking."""
    m = len(left)
    vertices = np.concatenate([left, right])
    i = np.arange(m - 1)
    triangles = np.concatenate([np.stack([i, i + m, i + 1], 1), np.stack([i + 1, i + m, i + m + 1], 1)])
    return vertices, triangles


def loft(rings: np.ndarray):
    """A closed surface through cross-section rings (S, P, 3), each a closed loop of P points: quads between
    consecutive rings (P per ring pair, in ring order: triangles 2k, 2k+1 are edge k) and a fan over each end."""
    s, p = rings.shape[:2]
    vertices = rings.reshape(-1, 3)
    i, k = np.meshgrid(np.arange(s - 1), np.arange(p), indexing='ij')
    a, b = i * p + k, i * p + (k + 1) % p
    c, d = a + p, b + p
    sides = np.stack([np.stack([a, c, b], -1), np.stack([b, c, d], -1)], -2).reshape(-1, 3)
    centres = np.array([rings[0].mean(0), rings[-1].mean(0)])
    first, last = len(vertices), len(vertices) + 1
    k = np.arange(p)
    caps = np.concatenate([np.stack([np.full(p, first), (k + 1) % p, k], 1),
                           np.stack([np.full(p, last), (s - 1) * p + k, (s - 1) * p + (k + 1) % p], 1)])
    return np.concatenate([vertices, centres]), np.concatenate([sides, caps]).astype(np.int64)
