"""Road users: meshes in their own frame (x forward, y left, z up, origin on the ground at the footprint
centre) and the paths they follow. Every agent keeps its instance ids for the whole drive."""
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import open3d as o3d

from perception.sim.materials import M
from perception.sim.meshes import Mesh, box, concat, cylinder, ellipsoid, oriented, tagged
from perception.taxonomy import load_taxonomy

CAR_COLORS = np.array([[0.92, 0.92, 0.92], [0.08, 0.08, 0.09], [0.6, 0.62, 0.64], [0.35, 0.36, 0.38],
                       [0.65, 0.08, 0.08], [0.1, 0.2, 0.55], [0.05, 0.1, 0.25], [0.15, 0.35, 0.2],
                       [0.85, 0.7, 0.1], [0.7, 0.62, 0.48]])
CLOTHES = np.array([[0.1, 0.1, 0.12], [0.2, 0.25, 0.45], [0.6, 0.1, 0.1], [0.85, 0.85, 0.8], [0.3, 0.45, 0.25],
                    [0.5, 0.4, 0.3], [0.9, 0.6, 0.1], [0.45, 0.2, 0.5]])
SKIN = np.array([[0.95, 0.8, 0.68], [0.8, 0.6, 0.45], [0.55, 0.38, 0.26], [0.35, 0.24, 0.16]])
GLASS = (0.1, 0.12, 0.15)
TYRE = (0.05, 0.05, 0.05)


def _ids():
    t = load_taxonomy()
    return {name: t.id_of(name) for name in t.names}


def bar(p0, p1, thickness: float):
    """A thin box from point p0 to point p1 (vertices, triangles)."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    v = p1 - p0
    length = np.linalg.norm(v)
    vertices, triangles = box((0, -thickness / 2, -thickness / 2), (length, thickness / 2, thickness / 2))
    yaw, pitch = np.arctan2(v[1], v[0]), -np.arctan2(v[2], np.hypot(v[0], v[1]))
    return oriented(vertices, yaw=yaw, pitch=pitch, translation=p0), triangles


@lru_cache(maxsize=None)
def _ring(radius: float, tube: float):
    mesh = o3d.geometry.TriangleMesh.create_torus(radius, tube, 16, 6)
    return np.asarray(mesh.vertices).copy(), np.asarray(mesh.triangles).astype(np.int64)


def wheel(x: float, y: float, radius: float, width: float, semantic: int, instance: int) -> Mesh:
    vertices, triangles = cylinder(radius, -width / 2, width / 2, resolution=12)
    return tagged(oriented(vertices, roll=np.pi / 2, translation=(x, y, radius)), triangles, semantic, instance,
                  M.RUBBER, TYRE)


def spoked_wheel(x: float, radius: float, semantic: int, instance: int) -> Mesh:
    vertices, triangles = _ring(radius, 0.025)
    return tagged(oriented(vertices, roll=np.pi / 2, translation=(x, 0, radius + 0.025)), triangles, semantic, instance,
                  M.RUBBER, TYRE)


def car(rng: np.random.Generator, instance: int) -> Mesh:
    ids = _ids()
    L, W, H = rng.uniform(3.8, 4.9), rng.uniform(1.7, 1.95), rng.uniform(1.35, 1.65)
    paint = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    c = ids['car']
    parts = [tagged(*box((-L / 2, -W / 2, 0.3), (L / 2, W / 2, 0.95)), c, instance, M.CAR_PAINT, paint),
             tagged(*box((-L / 2 + 0.2 * L, -W / 2 + 0.07, 0.95), (L / 2 - 0.3 * L, W / 2 - 0.07, H - 0.06)),
                    c, instance, M.GLASS, GLASS),
             tagged(*box((-L / 2 + 0.22 * L, -W / 2 + 0.1, H - 0.06), (L / 2 - 0.32 * L, W / 2 - 0.1, H)),
                    c, instance, M.CAR_PAINT, paint)]
    parts += [wheel(x, y, 0.32, 0.22, c, instance) for x in (-L / 2 + 0.75, L / 2 - 0.75)
              for y in (-W / 2 + 0.12, W / 2 - 0.12)]
    return concat(parts)


def truck(rng: np.random.Generator, instance: int) -> Mesh:
    ids = _ids()
    cargo_length, H = rng.uniform(5.0, 8.0), rng.uniform(3.2, 3.8)
    L = cargo_length + 2.3
    c = ids['truck']
    cab = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    cargo = [0.9, 0.9, 0.9] if rng.random() < 0.5 else CAR_COLORS[rng.integers(len(CAR_COLORS))]
    parts = [tagged(*box((L / 2 - 2.2, -1.2, 0.5), (L / 2, 1.2, 2.2)), c, instance, M.CAR_PAINT, cab),
             tagged(*box((L / 2 - 1.9, -1.15, 2.2), (L / 2 - 0.05, 1.15, 2.9)), c, instance, M.GLASS, GLASS),
             tagged(*box((-L / 2, -1.25, 0.9), (L / 2 - 2.3, 1.25, H)), c, instance, M.CAR_PAINT, cargo),
             tagged(*box((-L / 2, -0.5, 0.5), (L / 2, 0.5, 0.9)), c, instance, M.METAL, (0.15, 0.15, 0.15))]
    parts += [wheel(x, y, 0.5, 0.35, c, instance) for x in (L / 2 - 1.2, -L / 2 + 1.2, -L / 2 + 2.3)
              for y in (-1.0, 1.0)]
    return concat(parts)


def bus(rng: np.random.Generator, instance: int) -> Mesh:
    ids = _ids()
    L, H = rng.uniform(10.0, 12.5), rng.uniform(3.0, 3.3)
    c = ids['bus']
    paint = [[0.85, 0.7, 0.1], [0.7, 0.1, 0.1], [0.15, 0.3, 0.65], [0.9, 0.9, 0.9]][rng.integers(4)]
    parts = [tagged(*box((-L / 2, -1.25, 0.35), (L / 2, 1.25, H)), c, instance, M.CAR_PAINT, paint),
             tagged(*box((-L / 2 + 0.3, -1.27, 1.2), (L / 2 - 0.2, 1.27, 2.5)), c, instance, M.GLASS, GLASS),
             tagged(*box((L / 2, -1.15, 0.9), (L / 2 + 0.02, 1.15, 2.7)), c, instance, M.GLASS, GLASS)]
    parts += [wheel(x, y, 0.5, 0.3, c, instance) for x in (L / 2 - 2.5, -L / 2 + 2.8) for y in (-1.05, 1.05)]
    return concat(parts)


def other_vehicle(rng: np.random.Generator, instance: int) -> Mesh:
    """A caravan or trailer."""
    ids = _ids()
    L, H = rng.uniform(4.0, 6.5), rng.uniform(2.4, 2.9)
    c = ids['other-vehicle']
    shell = [[0.92, 0.9, 0.85], [0.75, 0.72, 0.65], [0.5, 0.55, 0.6]][rng.integers(3)]
    parts = [tagged(*box((-L / 2, -1.1, 0.45), (L / 2, 1.1, H)), c, instance, M.CAR_PAINT, shell),
             tagged(*box((-0.6, -1.12, 1.3), (0.6, 1.12, 1.9)), c, instance, M.GLASS, GLASS),
             tagged(*bar((L / 2, 0, 0.5), (L / 2 + 1.2, 0, 0.45), 0.1), c, instance, M.METAL, (0.2, 0.2, 0.2))]
    parts += [wheel(0.0, y, 0.35, 0.2, c, instance) for y in (-1.0, 1.0)]
    return concat(parts)


def person(rng: np.random.Generator, instance: int, semantic: int | None = None) -> 'PersonModel':
    ids = _ids()
    return PersonModel(semantic if semantic is not None else ids['person'], instance, rng.uniform(1.55, 1.95),
                       CLOTHES[rng.integers(len(CLOTHES))], CLOTHES[rng.integers(len(CLOTHES))],
                       SKIN[rng.integers(len(SKIN))])


@dataclass(frozen=True)
class PersonModel:
    """A walking or seated person; the mesh depends on the gait phase."""
    semantic: int
    instance: int
    height: float
    shirt: np.ndarray
    trousers: np.ndarray
    skin: np.ndarray

    def walking(self, phase: float) -> Mesh:
        h, s, i = self.height, self.semantic, self.instance
        hip, shoulder = 0.52 * h, 0.8 * h
        swing = 0.45 * np.sin(phase)
        legs = [tagged(*bar((0, y, hip), (np.sin(a) * hip, y, hip - np.cos(a) * hip), 0.13), s, i, M.FABRIC,
                       self.trousers) for y, a in ((0.1, swing), (-0.1, -swing))]
        arms = [tagged(*bar((0, y, shoulder), (np.sin(a) * 0.33 * h, y, shoulder - np.cos(a) * 0.33 * h), 0.09),
                       s, i, M.FABRIC, self.shirt) for y, a in ((0.24, -0.8 * swing), (-0.24, 0.8 * swing))]
        torso = tagged(*box((-0.11, -0.19, hip), (0.11, 0.19, shoulder + 0.03)), s, i, M.FABRIC, self.shirt)
        head = tagged(*ellipsoid((0.1, 0.085, 0.12), (0, 0, 0.91 * h)), s, i, M.SKIN, self.skin)
        return concat(legs + arms + [torso, head])

    def seated(self, seat_height: float, hands_x: float, lean: float) -> Mesh:
        """Seated on a saddle at seat_height, hands on a bar at hands_x, torso leaning forward by lean (rad)."""
        h, s, i = self.height, self.semantic, self.instance
        torso_length = 0.3 * h
        hip = np.array([-0.05, 0.0, seat_height])
        top = hip + torso_length * np.array([np.sin(lean), 0, np.cos(lean)])
        parts = [tagged(*bar(hip, top, 0.3), s, i, M.FABRIC, self.shirt),
                 tagged(*ellipsoid((0.1, 0.085, 0.12), top + [0.05, 0, 0.15]), s, i, M.SKIN, self.skin)]
        for y in (0.12, -0.12):
            knee = hip + [0.35, y, -0.05]
            parts += [tagged(*bar(hip + [0, y, 0], knee, 0.12), s, i, M.FABRIC, self.trousers),
                      tagged(*bar(knee, knee + [-0.05, 0, -0.45], 0.1), s, i, M.FABRIC, self.trousers),
                      tagged(*bar(top + [0, y * 1.6, -0.05], [hands_x, y * 2.5, top[2] - 0.2], 0.08), s, i,
                             M.FABRIC, self.shirt)]
        return concat(parts)


def bicycle(rng: np.random.Generator, instance: int) -> Mesh:
    ids = _ids()
    c = ids['bicycle']
    frame = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    r = 0.34
    rear, front = np.array([-0.52, 0, r]), np.array([0.52, 0, r])
    crank, seat, head = np.array([-0.05, 0, 0.3]), np.array([-0.2, 0, 0.85]), np.array([0.38, 0, 0.8])
    tubes = [(rear, crank), (crank, seat), (seat, head), (crank, head), (rear, seat), (head, front),
             (head + [0, -0.25, 0.15], head + [0, 0.25, 0.15]), (head, head + [0, 0, 0.15]),
             (seat + [-0.12, 0, 0.05], seat + [0.08, 0, 0.05])]
    parts = [tagged(*bar(a, b, 0.04), c, instance, M.METAL, frame) for a, b in tubes]
    return concat(parts + [spoked_wheel(x, r, c, instance) for x in (-0.52, 0.52)])


def motorcycle(rng: np.random.Generator, instance: int) -> Mesh:
    ids = _ids()
    c = ids['motorcycle']
    paint = CAR_COLORS[rng.integers(len(CAR_COLORS))]
    parts = [tagged(*box((-0.75, -0.18, 0.4), (0.55, 0.18, 0.8)), c, instance, M.CAR_PAINT, paint),
             tagged(*box((-0.7, -0.15, 0.8), (0.0, 0.15, 0.9)), c, instance, M.FABRIC, (0.05, 0.05, 0.05)),
             tagged(*bar((0.55, 0, 0.8), (0.8, 0, 0.35), 0.06), c, instance, M.METAL, (0.3, 0.3, 0.3)),
             tagged(*bar((0.45, -0.35, 1.0), (0.45, 0.35, 1.0), 0.04), c, instance, M.METAL, (0.2, 0.2, 0.2))]
    return concat(parts + [wheel(x, 0, 0.32, 0.12, c, instance) for x in (-0.8, 0.8)])


VEHICLES = {'car': car, 'truck': truck, 'bus': bus, 'other-vehicle': other_vehicle}
LENGTH_MARGIN = {'car': 5.0, 'truck': 10.5, 'bus': 13.0, 'other-vehicle': 7.5, 'motorcycle': 2.5, 'cyclist': 2.0}


@dataclass
class Agent:
    """A road user: a fixed mesh (vehicles) or a person whose gait animates; a path gives its pose over time."""
    kind: str                      # car, truck, bus, other-vehicle, motorcycle, cyclist, pedestrian
    path: 'Path'
    body: Mesh | None = None       # fixed part in the agent frame
    person: PersonModel | None = None
    seated: tuple | None = None    # (seat height, hands x, lean) when riding
    stride: float = 1.4            # metres per gait cycle
    instances: tuple = field(default_factory=tuple)

    def mesh_at(self, t: float) -> Mesh:
        x, y, yaw = self.path.pose(t)
        parts = [self.body] if self.body is not None else []
        if self.person is not None:
            if self.seated is not None:
                parts.append(self.person.seated(*self.seated))
            else:
                phase = 2 * np.pi * self.path.distance(t) / self.stride
                parts.append(self.person.walking(phase))
        mesh = concat(parts)
        c, s = np.cos(yaw), np.sin(yaw)
        T = np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, 0], [0, 0, 0, 1.0]])
        return mesh.transformed(T)


class Path:
    """Constant-speed motion; subclasses give the pose at a travelled distance."""
    speed: float
    start: float

    def distance(self, t: float) -> float:
        return self.start + self.speed * t

    def pose(self, t: float):
        raise NotImplementedError


@dataclass
class RoutePath(Path):
    """Along a street at lateral offset d, from street position `start` at `speed` (negative: against the
    street's direction); `reverse` agents face against the street's direction."""
    route: object
    start: float
    speed: float
    d: float
    reverse: bool = False

    def pose(self, t: float):
        x, y, heading = self.route.pose(self.distance(t), self.d)
        return float(x), float(y), float(heading) + (np.pi if self.reverse else 0.0)


@dataclass
class LinePath(Path):
    """A straight line from origin along yaw (crossing streets, crosswalks, parked objects with speed 0)."""
    origin: tuple
    yaw: float
    speed: float
    start: float = 0.0

    def pose(self, t: float):
        travelled = self.distance(t)
        return (self.origin[0] + travelled * np.cos(self.yaw), self.origin[1] + travelled * np.sin(self.yaw),
                self.yaw)
