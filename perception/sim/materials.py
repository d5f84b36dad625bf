"""Materials: procedural albedo textures for the camera (LiDAR reflectance per material: perception.sim.lidar).

Textures are evaluated at ray hits from 2D texture coordinates (a, b) in the hit object's own frame:
horizontal surfaces use (x, y), vertical ones (position along the face, height).
"""
from dataclasses import dataclass
from enum import IntEnum

import numpy as np


class M(IntEnum):
    """Material ids stored per triangle."""
    ASPHALT = 0
    PAINT = 1
    TILES = 2
    CONCRETE = 3
    FACADE = 4
    BRICK = 5
    SLATS = 6
    METAL = 7
    SIGN = 8
    LAMP = 9
    FOLIAGE = 10
    BARK = 11
    GRASS = 12
    CAR_PAINT = 13
    GLASS = 14
    RUBBER = 15
    FABRIC = 16
    SKIN = 17
    GRAVEL = 18


@dataclass(frozen=True)
class Material:
    """Camera texture of a material (LiDAR reflectance: the `reflectance` block of config/simulator.yaml)."""
    noise: float         # amplitude of the multiplicative albedo noise
    scale: float         # noise feature size in metres


MATERIALS = {
    M.ASPHALT: Material(0.35, 0.25), M.PAINT: Material(0.15, 0.2), M.TILES: Material(0.15, 0.3),
    M.CONCRETE: Material(0.2, 0.4), M.FACADE: Material(0.12, 0.8), M.BRICK: Material(0.2, 0.3),
    M.SLATS: Material(0.15, 0.3), M.METAL: Material(0.1, 0.3), M.SIGN: Material(0.05, 0.2),
    M.LAMP: Material(0.05, 0.1), M.FOLIAGE: Material(0.7, 0.35), M.BARK: Material(0.4, 0.12),
    M.GRASS: Material(0.5, 0.6), M.CAR_PAINT: Material(0.06, 0.5), M.GLASS: Material(0.2, 0.6),
    M.RUBBER: Material(0.1, 0.1), M.FABRIC: Material(0.15, 0.1), M.SKIN: Material(0.05, 0.1),
    M.GRAVEL: Material(0.5, 0.15),
}
_NOISE = np.array([MATERIALS[m].noise for m in M], np.float32)
_SCALE = np.array([MATERIALS[m].scale for m in M], np.float32)


def lattice_hash(ix: np.ndarray, iy: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic pseudo-random values in [0, 1) on an integer lattice."""
    h = (ix.astype(np.int64) * 374761393 + iy.astype(np.int64) * 668265263 + seed * 2246822519) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 1274126177) & 0xFFFFFFFF
    return ((h ^ (h >> 16)) & 0xFFFFFF) / float(1 << 24)


def value_noise(a: np.ndarray, b: np.ndarray, seed: int = 0) -> np.ndarray:
    """Smooth value noise in [0, 1) with unit feature size."""
    fa, fb = np.floor(a), np.floor(b)
    ta, tb = a - fa, b - fb
    ta, tb = ta * ta * (3 - 2 * ta), tb * tb * (3 - 2 * tb)
    ia, ib = fa.astype(np.int64), fb.astype(np.int64)
    v00, v10 = lattice_hash(ia, ib, seed), lattice_hash(ia + 1, ib, seed)
    v01, v11 = lattice_hash(ia, ib + 1, seed), lattice_hash(ia + 1, ib + 1, seed)
    return (v00 * (1 - ta) + v10 * ta) * (1 - tb) + (v01 * (1 - ta) + v11 * ta) * tb


def fbm(a: np.ndarray, b: np.ndarray, octaves: int = 3, seed: int = 0) -> np.ndarray:
    """Fractal noise in about [0, 1)."""
    total, amplitude, norm = 0.0, 1.0, 0.0
    for octave in range(octaves):
        total = total + amplitude * value_noise(a, b, seed + 17 * octave)
        norm += amplitude
        a, b, amplitude = a * 2.03, b * 2.03, amplitude * 0.5
    return total / norm


def _grid_lines(coord: np.ndarray, period: float, width: float) -> np.ndarray:
    return np.mod(coord, period) < width


def albedo(material: np.ndarray, color: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int) -> np.ndarray:
    """Per-hit RGB albedo (N, 3) in [0, 1] from material ids, base colours and texture coordinates (a, b)."""
    scale = _SCALE[material]
    noise = fbm(a / scale, b / scale, 3, seed + 1) - 0.5
    out = color * (1.0 + _NOISE[material] * noise)[:, None]

    def where(m: M):
        return material == m

    tiles = where(M.TILES)
    out[tiles & (_grid_lines(a, 0.5, 0.03) | _grid_lines(b, 0.5, 0.03))] *= 0.7
    brick = where(M.BRICK)
    row = np.floor(b / 0.075)
    mortar = _grid_lines(b, 0.075, 0.012) | _grid_lines(a + 0.125 * np.mod(row, 2), 0.25, 0.012)
    out[brick & mortar] = 0.75
    out[brick & ~mortar] *= (0.85 + 0.3 * lattice_hash(np.floor((a + 0.125 * np.mod(row, 2)) / 0.25), row, seed))[
        brick & ~mortar, None]
    slats = where(M.SLATS)
    out[slats & _grid_lines(a, 0.15, 0.04)] *= 0.45
    facade = where(M.FACADE)
    cell_a, cell_b = np.mod(a, 2.6) / 2.6, np.mod(b, 3.2) / 3.2
    window = facade & (cell_a > 0.25) & (cell_a < 0.75) & (cell_b > 0.3) & (cell_b < 0.8) & (b > 0.8)
    tint = lattice_hash(np.floor(a / 2.6), np.floor(b / 3.2), seed + 5)
    out[window] = (np.array([0.12, 0.15, 0.2]) + 0.25 * tint[window, None] * np.array([0.8, 0.9, 1.0]))
    foliage = where(M.FOLIAGE)
    out[foliage] *= (0.6 + 0.8 * fbm(a[foliage] / 0.12, b[foliage] / 0.12, 2, seed + 9))[:, None]
    bark = where(M.BARK)
    out[bark] *= (0.7 + 0.6 * value_noise(a[bark] / 0.03, b[bark] / 0.5, seed + 3))[:, None]
    grass = where(M.GRASS)
    dirt = fbm(a[grass] / 3.0, b[grass] / 3.0, 2, seed + 11)
    out[grass] = out[grass] * (1 - dirt[:, None] * 0.6) + np.array([0.45, 0.38, 0.25]) * dirt[:, None] * 0.6
    glass = where(M.GLASS)
    out[glass] += (0.15 * np.clip(b[glass] - np.floor(b[glass]), 0, 1))[:, None]
    return np.clip(out, 0.0, 1.0)
