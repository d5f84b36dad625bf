"""Spinning LiDARs as data (config/lidars.yaml) and how surfaces return their beams (the `reflectance` block of
config/simulator.yaml): beam tables, detection range, glass, incidence and range falloff, zero-reflectance
returns, the sensor's own intensity scale, and per-drive randomisation of all of it."""
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import yaml

from perception.paths import config_path
from perception.sim.materials import M, lattice_hash, value_noise
from perception.sim.sensors import Raycaster, texture_coordinates

POINT = [('x', '<f4'), ('y', '<f4'), ('z', '<f4'), ('intensity', '<f4'), ('ring', '<u2')]
GLASS_SURFACES = 4  # a beam crosses at most this many glass faces (both faces of a car's two windows)
# a loose layer (grass): returns come from a height up to twice the drive's pile height, mostly shared over patches
# of PILE_PATCH_M (tufts, bumps), PILE_PER_RETURN of it per return (blades); only on ground-facing surfaces, and no
# beam is pulled back more than MAX_PILE_PULL_M (grazing beams)
PILE_PATCH_M, PILE_PER_RETURN, PILE_MIN_NORMAL_Z, MAX_PILE_PULL_M = 0.8, 0.1, 0.7, 2.0


@dataclass(frozen=True)
class IntensityResponse:
    """How a sensor writes reflectance (see config/lidars.yaml)."""
    scale: float
    quantum: float
    maximum: float
    incidence_exponent: float
    range_exponent: float
    range_reference: float
    zero_returns: float


@dataclass(frozen=True)
class LidarSpec:
    """One LiDAR model: an entry of config/lidars.yaml."""
    name: str
    elevations_deg: tuple      # beam elevations, top beam first
    azimuth_steps: int
    min_range: float
    range_noise: float         # metres, 1 sigma
    dropout: float             # share of returns lost at random
    detection_range: float     # a surface of detection_reflectance is seen up to here
    detection_reflectance: float
    mount_height: float        # nominal, metres above the ground
    mount_pitch_deg: float     # nominal, positive: nose down
    intensity: IntensityResponse
    calibration_error_deg: float = 0.0  # 1 sigma of a unit's per-beam elevation error (its lasers' true angles)
    calibration_error_m: float = 0.0    # 1 sigma of a unit's per-beam range offset
    elevation_errors_deg: tuple = ()    # this unit's per-beam errors (unit()); empty: an ideal sensor
    range_errors_m: tuple = ()

    def unit(self, rng: np.random.Generator) -> 'LidarSpec':
        """One physical sensor of this model: each beam fires at its nominal elevation plus a drawn error and
        reads ranges with a drawn offset, while the points are computed with the nominal angles (as a driver with
        the model's calibration table does). Real HDL-64E ground rings step by 2-4 cm from beam to beam."""
        return replace(self, elevation_errors_deg=tuple(rng.normal(0, self.calibration_error_deg, self.beams)),
                       range_errors_m=tuple(rng.normal(0, self.calibration_error_m, self.beams)))

    @property
    def beams(self) -> int:
        return len(self.elevations_deg)

    @property
    def max_range(self) -> float:
        """The farthest any return can come from (a retro-reflector, reflectance 1)."""
        return self.detection_range * np.sqrt(1.0 / self.detection_reflectance)

    def elevations(self) -> np.ndarray:
        """Beam elevations (rad), top first."""
        return np.radians(np.asarray(self.elevations_deg, float))

    @classmethod
    def from_entry(cls, name: str, entry: dict) -> 'LidarSpec':
        if 'elevations_deg' in entry:
            elevations = [float(e) for e in entry['elevations_deg']]
        else:
            elevations = [float(e) for block in entry['blocks']
                          for e in np.linspace(block['top_deg'], block['bottom_deg'], block['count'])]
        if any(a <= b for a, b in zip(elevations, elevations[1:])):
            raise ValueError(f'lidar {name}: beam elevations must fall strictly from the top beam')
        return cls(name, tuple(elevations), int(entry['azimuth_steps']), float(entry['min_range']),
                   float(entry['range_noise']), float(entry['dropout']), float(entry['detection']['range']),
                   float(entry['detection']['reflectance']), float(entry['mount']['height']),
                   float(entry['mount']['pitch_deg']),
                   IntensityResponse(**{k: float(v) for k, v in entry['intensity'].items()}),
                   float(entry.get('calibration_error', {}).get('elevation_deg', 0.0)),
                   float(entry.get('calibration_error', {}).get('range_m', 0.0)))


@dataclass(frozen=True)
class LidarCatalogue:
    """All sensor models of a lidars file, the default's name and the per-drive mounting jitter."""
    sensors: dict
    default: str
    mount_jitter: dict         # height_m, pitch_deg, roll_deg: uniform +- per drive

    def get(self, name: str | None = None) -> LidarSpec:
        name = name or self.default
        if name not in self.sensors:
            raise ValueError(f'unknown lidar {name!r}; known: {", ".join(self.sensors)}')
        return self.sensors[name]


def load_lidars(path: Path | None = None) -> LidarCatalogue:
    """The LiDAR models of config/lidars.yaml (or `path`)."""
    with open(path or config_path('lidars.yaml')) as f:
        document = yaml.safe_load(f)
    sensors = {name: LidarSpec.from_entry(name, entry) for name, entry in document['sensors'].items()}
    catalogue = LidarCatalogue(sensors, document['default'],
                               {k: float(v) for k, v in document['mount_jitter'].items()})
    catalogue.get()  # the default must exist
    return catalogue


def jittered_mounting(base_T_lidar: np.ndarray, jitter: dict, rng: np.random.Generator) -> np.ndarray:
    """One drive's base_link -> lidar (4x4): the nominal mounting raised, pitched and rolled by uniform draws
    within `jitter` (height_m, pitch_deg, roll_deg)."""
    pitch, roll = np.radians(rng.uniform(-1, 1, 2) * [jitter['pitch_deg'], jitter['roll_deg']])
    cr, sr, cp, sp = np.cos(roll), np.sin(roll), np.cos(pitch), np.sin(pitch)
    T = base_T_lidar.copy()
    T[:3, :3] = T[:3, :3] @ np.array([[cp, 0, sp], [0, 1, 0], [-sp, 0, cp]]) @ np.array([[1, 0, 0], [0, cr, -sr],
                                                                                         [0, sr, cr]])
    T[2, 3] += rng.uniform(-1, 1) * jitter['height_m']
    return T


@dataclass(frozen=True)
class Reflectance:
    """Per-material return statistics (arrays indexed by material id), as the simulator config gives them."""
    median: np.ndarray       # median reflectance of the non-zero returns
    spread: np.ndarray       # per-return log-normal sigma
    patch: np.ndarray        # log sigma between objects (things) or patches of patch_m (stuff)
    zero: np.ndarray         # share of returns without a reflectance (specular, dark, wet)
    transmit: np.ndarray     # share of beams that pass through (glass)
    penetration: np.ndarray  # mean depth (m) beams reach into the material before returning (foliage)
    pile: np.ndarray         # mean height (m) of a loose layer above the surface (grass), before the drive's factor
    pile_factor: tuple       # (low, high): each drive's pile heights times a log-uniform factor in this range
    patch_m: float
    grazing: float           # reflectance * cos(incidence) at which half of the returns have no reflectance
    grazing_steepness: float
    weak: float              # factor on a weak return a sensor does write (zero_returns < 1)
    randomise: dict          # per-drive ranges used when randomising

    @classmethod
    def from_config(cls, document: dict, randomise: dict) -> 'Reflectance':
        """From the `reflectance` block of a simulator config and its `randomise.lidar` ranges."""
        materials = document['materials']
        missing = {m.name.lower() for m in M} - set(materials)
        if missing:
            raise ValueError(f'reflectance: no entry for material(s) {", ".join(sorted(missing))}')

        def column(key, default=0.0):
            return np.array([float(materials[m.name.lower()].get(key, default)) for m in M], np.float64)
        return cls(column('median'), column('spread'), column('patch'), column('zero'), column('transmit'),
                   column('penetration'), column('pile'), tuple(float(f) for f in document['pile_factor']),
                   float(document['patch_m']), float(document['grazing']['reflectance']),
                   float(document['grazing']['steepness']), float(document['weak']), dict(randomise))

    def for_drive(self, rng: np.random.Generator, randomise: bool,
                  cover_rng: np.random.Generator | None = None) -> 'DriveReflectance':
        """The drive's response: calibrated as configured, or with every material's median, zero share and the
        sensor gain and gamma drawn anew (wide enough that absolute intensity does not identify a class). The
        height of loose layers (grass) is the drive's in either case, drawn from `cover_rng` (default `rng`)."""
        n = len(self.median)
        pile = self.pile * float(np.exp((cover_rng or rng).uniform(*np.log(self.pile_factor))))
        if not randomise:
            return DriveReflectance(self, self.median, self.zero, 1.0, 1.0, pile)
        r = self.randomise
        median = self.median * np.exp(rng.normal(0, r['material_log_sigma'], n))
        zero = np.clip(self.zero * np.exp(rng.uniform(*np.log(r['zero_factor']), n)), 0, 0.95)
        gain = float(np.exp(rng.uniform(*np.log(r['gain']))))
        gamma = float(np.exp(rng.uniform(*np.log(r['gamma']))))
        return DriveReflectance(self, np.clip(median, 0.01, 1.0), zero, gain, gamma, pile)


@dataclass(frozen=True)
class DriveReflectance:
    """One drive's draw of the reflectance model."""
    model: Reflectance
    median: np.ndarray
    zero: np.ndarray
    gain: float
    gamma: float
    pile: np.ndarray   # per material: this drive's mean height (m) of its loose layer (grass)

    def sample(self, hits, rng: np.random.Generator, seed: int) -> np.ndarray:
        """Reflectance in [0, 1] of each hit (hits that missed get 0): the material's median, a factor per
        object (things) or per surface patch (stuff), and per-return noise."""
        material = hits.material
        a, b = texture_coordinates(hits, np.ones(len(material), bool))
        patch_noise = value_noise(a / self.model.patch_m, b / self.model.patch_m, seed + 101)
        object_noise = lattice_hash(hits.instance.astype(np.int64), material.astype(np.int64), seed + 103)
        uniform = np.where(hits.instance > 0, object_noise, patch_noise)
        log_factor = (uniform - 0.5) * np.sqrt(12) * self.model.patch[material]
        log_factor += rng.normal(0, 1, len(material)) * self.model.spread[material]
        return np.clip(self.median[material] * np.exp(log_factor), 0, 1)


def _cast_through_glass(caster: Raycaster, origin: np.ndarray, directions: np.ndarray, reflectance: Reflectance,
                        rng: np.random.Generator):
    """Cast the beams; a beam passes glass with the material's transmit share, decided once per beam (so it
    crosses both faces of a pane and both windows of a car, or returns from the first)."""
    hits = caster.cast(origin[None], directions)
    draw = rng.random(len(directions))
    for _ in range(GLASS_SURFACES):
        through = np.flatnonzero(hits.hit & (draw < reflectance.transmit[hits.material]))
        if not len(through):
            break
        start = hits.t[through] + 0.005
        behind = caster.cast(origin + directions[through] * start[:, None], directions[through])
        behind.t += start
        hits.assign(through, behind)
    return hits


def _pile_pull(hits, directions: np.ndarray, origin: np.ndarray, pile: np.ndarray, rng: np.random.Generator,
               seed: int) -> np.ndarray:
    """How much earlier (m, along the beam) each beam returns because a loose layer (grass) stands on the
    surface it hit: real lawns and verges are rough (RELLIS-3D grass: 3.5 cm median residual of a plane fitted per
    2 m cell crossed by 3+ rings, concrete 0.5 cm), where a mesh is flat."""
    height = pile[hits.material]
    on = np.flatnonzero(hits.hit & (height > 0) & (hits.normal[:, 2] > PILE_MIN_NORMAL_Z) & (directions[:, 2] < 0))
    pull = np.zeros(len(height))
    if len(on):
        xy = origin[:2] + directions[on, :2] * hits.t[on, None]
        tuft = value_noise(xy[:, 0] / PILE_PATCH_M, xy[:, 1] / PILE_PATCH_M, seed + 107)
        stop = 2 * height[on] * ((1 - PILE_PER_RETURN) * tuft + PILE_PER_RETURN * rng.random(len(on)))
        pull[on] = np.minimum(stop / -directions[on, 2], np.minimum(MAX_PILE_PULL_M, hits.t[on]))
    return pull


def scan_lidar(caster: Raycaster, spec: LidarSpec, response: DriveReflectance, world_T_lidar: np.ndarray,
               rng: np.random.Generator, texture_seed: int):
    """Ray-cast one sweep. Returns points in the lidar frame as a structured array (x, y, z, intensity, ring)
    and per-point semantic (uint8) and instance (uint32). Points are ordered by azimuth, then beam; intensity is
    in the sensor's own scale."""
    azimuth = np.linspace(np.pi, -np.pi, spec.azimuth_steps, endpoint=False)  # clockwise, starting behind

    def beam_directions(elevation):
        az, el = np.meshgrid(azimuth, elevation, indexing='ij')
        return np.stack([np.cos(el) * np.cos(az), np.cos(el) * np.sin(az), np.sin(el)], -1).reshape(-1, 3)
    ring = np.broadcast_to(np.arange(spec.beams, dtype=np.uint16), (spec.azimuth_steps, spec.beams)).ravel()
    local = beam_directions(spec.elevations())  # as the sensor reports them
    true_local = beam_directions(spec.elevations() + np.radians(spec.elevation_errors_deg)) \
        if spec.elevation_errors_deg else local
    directions = true_local @ world_T_lidar[:3, :3].T
    hits = _cast_through_glass(caster, world_T_lidar[:3, 3], directions, response.model, rng)
    n = len(hits.t)

    penetration = rng.exponential(1.0, n) * response.model.penetration[hits.material]  # into a tree's crown
    distance = hits.t + penetration - _pile_pull(hits, directions, world_T_lidar[:3, 3], response.pile, rng,
                                                 texture_seed) + rng.normal(0, spec.range_noise, n)
    if spec.range_errors_m:
        distance = distance + np.asarray(spec.range_errors_m)[ring]
    cos_incidence = np.clip(np.abs(np.einsum('ij,ij->i', hits.normal, directions)), 1e-3, 1)
    reflectance = response.sample(hits, rng, texture_seed)
    # the detection limit falls with the returned power (~ reflectance / range^2)
    reach = spec.detection_range * np.sqrt(reflectance / spec.detection_reflectance) * rng.uniform(0.9, 1.1, n)
    keep = (hits.hit & (distance >= spec.min_range) & (distance <= reach) & (rng.random(n) >= spec.dropout))

    sensor = spec.intensity
    value = (response.gain * reflectance * cos_incidence ** sensor.incidence_exponent
             * (sensor.range_reference / np.maximum(distance, sensor.range_reference)) ** sensor.range_exponent)
    value = np.clip(value, 0, 1) ** response.gamma
    # returns without a reflectance: specular or dark surfaces (per material) and grazing incidence
    model = response.model
    grazing = 1 / (1 + (reflectance * cos_incidence / model.grazing) ** model.grazing_steepness)
    weak = rng.random(n) < 1 - (1 - response.zero[hits.material]) * (1 - grazing)
    value[weak] *= np.where(rng.random(n)[weak] < sensor.zero_returns, 0.0, model.weak)
    intensity = np.minimum(np.round(value * sensor.scale / sensor.quantum) * sensor.quantum, sensor.maximum)

    points = np.zeros(int(keep.sum()), dtype=POINT)
    xyz = local[keep] * distance[keep, None]
    points['x'], points['y'], points['z'] = xyz.T
    points['intensity'] = intensity[keep]
    points['ring'] = ring[keep]
    return points, hits.semantic[keep].copy(), hits.instance[keep].copy()
