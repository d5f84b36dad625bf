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
    M.ASPHALT: Material(0.1, 0.15), M.PAINT: Material(0.35, 0.3), M.TILES: Material(0.1, 0.3),
    M.CONCRETE: Material(0.12, 0.4), M.FACADE: Material(0.08, 0.8), M.BRICK: Material(0.15, 0.3),
    M.SLATS: Material(0.12, 0.3), M.METAL: Material(0.08, 0.3), M.SIGN: Material(0.05, 0.2),
    M.LAMP: Material(0.05, 0.1), M.FOLIAGE: Material(0.3, 0.35), M.BARK: Material(0.3, 0.12),
    M.GRASS: Material(0.35, 0.05), M.CAR_PAINT: Material(0.03, 0.5), M.GLASS: Material(0.1, 0.6),
    M.RUBBER: Material(0.1, 0.1), M.FABRIC: Material(0.15, 0.1), M.SKIN: Material(0.05, 0.1),
    M.GRAVEL: Material(0.4, 0.08),
}
# share of the environment a surface mirrors at normal incidence (Fresnel raises it towards grazing views)
MIRROR = np.zeros(len(M), np.float32)
MIRROR[[M.CAR_PAINT, M.GLASS, M.METAL]] = [0.05, 0.5, 0.12]
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


def luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ np.array([0.299, 0.587, 0.114], np.float32)


@dataclass(frozen=True)
class TextureLook:
    """A drive's appearance of every material (arrays indexed by material id); the identity unless randomised."""
    gain: np.ndarray          # (n, 3) per-channel colour gains
    saturation: np.ndarray    # (n,) colour saturation factor
    texture: np.ndarray       # (n,) factor on the texture's contrast
    pattern: np.ndarray       # (n,) amplitude of an extra random pattern
    pattern_scale: np.ndarray  # (n,) its feature size, metres
    decals: np.ndarray        # (n,) share of the surface under random-coloured blotches (distractors)

    @classmethod
    def identity(cls) -> 'TextureLook':
        n = len(M)
        return cls(np.ones((n, 3)), np.ones(n), np.ones(n), np.zeros(n), np.ones(n), np.zeros(n))

    @classmethod
    def random(cls, rng: np.random.Generator, ranges: dict) -> 'TextureLook':
        n = len(M)
        return cls(np.exp(rng.uniform(-1, 1, (n, 3)) * ranges['colour_log_gain']),
                   rng.uniform(*ranges['saturation'], n), np.exp(rng.uniform(*np.log(ranges['texture']), n)),
                   rng.uniform(0, ranges['pattern'], n), np.exp(rng.uniform(*np.log(ranges['pattern_scale_m']), n)),
                   rng.uniform(0, ranges['decals'], n) * (rng.random(n) < 0.5))


def albedo(material: np.ndarray, color: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int,
           look: TextureLook | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-hit RGB albedo (N, 3) in [0, 1] and mirror share (N,) from material ids, base colours and texture
    coordinates (a, b), in a drive's `look`."""
    look = look or TextureLook.identity()
    contrast = look.texture[material]
    scale = _SCALE[material]
    noise = fbm(a / scale, b / scale, 3, seed + 1) - 0.5
    out = color * (1.0 + contrast * _NOISE[material] * noise)[:, None]
    mirror = MIRROR[material].copy()

    def where(m: M):
        return material == m

    def shade(mask, factor):  # a multiplicative pattern, scaled by the drive's texture contrast
        out[mask] *= (1 + contrast[mask] * (factor - 1))[:, None]

    asphalt = where(M.ASPHALT)
    if asphalt.any():  # low-contrast grain, worn patches, darker repairs, fine cracks
        pa, pb = a[asphalt], b[asphalt]
        wear = 0.93 + 0.14 * fbm(pa / 4.0, pb / 4.0, 2, seed + 21)
        repair = np.where(value_noise(pa / 7.0, pb / 7.0, seed + 23) > 0.8, 0.85, 1.0)
        crack = np.where((np.abs(value_noise(pa / 1.5, pb / 1.5, seed + 25) - 0.5) < 0.005)
                         & (value_noise(pa / 9.0, pb / 9.0, seed + 26) > 0.65), 0.88, 1.0)  # here and there
        shade(asphalt, wear * repair * crack)
    tiles = where(M.TILES)
    if tiles.any():
        joint = _grid_lines(a[tiles], 0.5, 0.02) | _grid_lines(b[tiles], 0.5, 0.02)
        tint = 0.94 + 0.12 * lattice_hash(np.floor(a[tiles] / 0.5), np.floor(b[tiles] / 0.5), seed + 27)
        shade(tiles, np.where(joint, 0.85, tint))
    brick = where(M.BRICK)
    row = np.floor(b / 0.075)
    mortar = _grid_lines(b, 0.075, 0.012) | _grid_lines(a + 0.125 * np.mod(row, 2), 0.25, 0.012)
    out[brick & mortar] = 0.7
    out[brick & ~mortar] *= (0.88 + 0.24 * lattice_hash(np.floor((a + 0.125 * np.mod(row, 2)) / 0.25), row, seed))[
        brick & ~mortar, None]
    slats = where(M.SLATS)
    out[slats & _grid_lines(a, 0.15, 0.04)] *= 0.55
    facade = where(M.FACADE) | brick
    if facade.any():
        _facade(out, mirror, facade, a, b, seed)
    foliage = where(M.FOLIAGE)
    if foliage.any():  # leaf clumps with dark gaps, yellower and darker clusters
        leaves = fbm(a[foliage] / 0.09, b[foliage] / 0.09, 2, seed + 9)
        clusters = value_noise(a[foliage] / 0.7, b[foliage] / 0.7, seed + 29)
        out[foliage] *= (0.45 + 0.9 * leaves * (leaves > 0.3) + 0.15 * (leaves <= 0.3))[:, None]
        out[foliage] *= (1 + (clusters[:, None] - 0.5) * np.array([0.4, 0.25, -0.2]))
    bark = where(M.BARK)
    out[bark] *= (0.7 + 0.6 * value_noise(a[bark] / 0.03, b[bark] / 0.5, seed + 3))[:, None]
    grass = where(M.GRASS)
    if grass.any():
        dirt = fbm(a[grass] / 3.0, b[grass] / 3.0, 2, seed + 11) ** 2
        out[grass] = out[grass] * (1 - dirt[:, None] * 0.5) + np.array([0.42, 0.37, 0.27]) * dirt[:, None] * 0.5
    glass = where(M.GLASS)
    out[glass] *= 0.6
    out = _randomised(out, material, a, b, seed, look)
    return np.clip(out, 0.0, 1.0), mirror


def _facade(out: np.ndarray, mirror: np.ndarray, facade: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int):
    """Storeys of windows with light frames and sills (mirroring glass, some with blinds), shop windows on the
    ground floor, a band at every storey and vertical weathering streaks."""
    fa, fb = a[facade], b[facade]
    bay, storey = 2.6, 3.2
    cell_a, cell_b = np.mod(fa, bay) / bay, np.mod(fb, storey) / storey
    ground = fb < storey
    shop = ground & (lattice_hash(np.floor(fa / 7.8), np.zeros_like(fa), seed + 31) < 0.5)
    lo_a, hi_a = np.where(shop, 0.06, 0.27), np.where(shop, 0.94, 0.73)
    lo_b, hi_b = np.where(shop, 0.1, 0.3), np.where(shop, 0.85, 0.8)
    inside = (cell_a > lo_a) & (cell_a < hi_a) & (cell_b > lo_b) & (cell_b < hi_b) & (fb > 0.3)
    frame = inside & ((cell_a - lo_a < 0.025) | (hi_a - cell_a < 0.025) | (cell_b - lo_b < 0.02)
                      | (hi_b - cell_b < 0.02))
    sill = (cell_a > lo_a - 0.02) & (cell_a < hi_a + 0.02) & (lo_b - cell_b > 0) & (lo_b - cell_b < 0.025) & ~ground
    pane = inside & ~frame
    window_id = lattice_hash(np.floor(fa / bay), np.floor(fb / storey), seed + 5)
    colour = out[facade]
    colour *= (0.93 + 0.1 * value_noise(fa / 0.8, fb / 6.0, seed + 33))[:, None]  # streaks
    colour[np.mod(fb, storey) < 0.15] *= 0.9
    colour[frame | sill] = 0.85 * np.maximum(colour[frame | sill], 0.75)
    blinds = pane & (window_id > 0.7) & (cell_b > lo_b + (hi_b - lo_b) * (1.6 - window_id) * 0.8)
    colour[pane] = np.array([0.09, 0.1, 0.12]) + 0.08 * window_id[pane, None]
    colour[blinds] = np.array([0.75, 0.72, 0.66]) * (0.7 + 0.3 * window_id[blinds, None])
    out[facade] = colour
    facade_mirror = mirror[facade]
    facade_mirror[pane & ~blinds] = 0.45
    mirror[facade] = facade_mirror


def _randomised(out: np.ndarray, material: np.ndarray, a: np.ndarray, b: np.ndarray, seed: int,
                look: TextureLook) -> np.ndarray:
    """The drive's colour gains, saturation, an extra pattern and distractor blotches (identity look: unchanged)."""
    if not look.pattern.any() and not look.decals.any() and np.all(look.gain == 1) and np.all(look.saturation == 1):
        return out
    out = out * look.gain[material]
    grey = luminance(out)[:, None]
    out = grey + look.saturation[material][:, None] * (out - grey)
    scale = look.pattern_scale[material]
    pattern = value_noise(a / scale + 0.5 * b / scale, b / scale, seed + 41) - 0.5
    out *= (1 + 2 * look.pattern[material] * pattern)[:, None]
    blot = value_noise(a / 0.9, b / 0.9, seed + 43) > 1 - look.decals[material]
    if blot.any():
        cell_a, cell_b = np.floor(a[blot] / 0.9), np.floor(b[blot] / 0.9)
        out[blot] = np.stack([lattice_hash(cell_a, cell_b, seed + 45 + k) for k in range(3)], 1)
    return out
