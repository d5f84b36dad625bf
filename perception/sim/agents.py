"""Road users: meshes in their own frame (x forward, y left, z up, origin on the ground at the footprint
centre) and the paths they follow. Every agent keeps its instance ids for the whole drive."""
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import open3d as o3d

from perception.sim.materials import M
from perception.sim.meshes import Mesh, box, concat, cylinder, ellipsoid, loft, oriented, tagged
from perception.taxonomy import load_taxonomy

# car paints by how common they are on European streets (white, black, greys and silver dominate)
CAR_COLORS = np.array([[0.92, 0.92, 0.92], [0.08, 0.08, 0.09], [0.6, 0.62, 0.64], [0.35, 0.36, 0.38],
                       [0.65, 0.08, 0.08], [0.1, 0.2, 0.55], [0.05, 0.1, 0.25], [0.15, 0.35, 0.2],
                       [0.85, 0.7, 0.1], [0.7, 0.62, 0.48]])
CAR_COLOR_SHARES = np.array([0.24, 0.2, 0.18, 0.12, 0.07, 0.06, 0.04, 0.03, 0.02, 0.04])
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


@dataclass(frozen=True)
class CarStyle:
    """A body style: ranges of length, width, height (m), and the side profile as shares of the length from the
    front: windshield base, roof front, roof rear, rear-window base; belt line as a share of the height."""
    length: tuple
    width: tuple
    height: tuple
    windshield: float
    roof: tuple
    rear: float
    belt: float
    share: float


CAR_STYLES = {
    'sedan': CarStyle((4.3, 4.9), (1.75, 1.88), (1.38, 1.5), 0.3, (0.44, 0.7), 0.82, 0.6, 0.35),
    'hatchback': CarStyle((3.6, 4.3), (1.65, 1.8), (1.42, 1.56), 0.27, (0.42, 0.86), 0.98, 0.58, 0.3),
    'estate': CarStyle((4.5, 4.95), (1.78, 1.88), (1.45, 1.55), 0.28, (0.42, 0.92), 0.99, 0.58, 0.12),
    'suv': CarStyle((4.2, 4.9), (1.8, 1.95), (1.6, 1.8), 0.25, (0.38, 0.9), 0.99, 0.57, 0.18),
    'van': CarStyle((4.6, 5.1), (1.85, 2.0), (1.75, 1.95), 0.12, (0.25, 0.95), 0.99, 0.5, 0.05),
}


def _rounded_plan(x: np.ndarray, length: float, width: float, corner: float) -> np.ndarray:
    """Half-width at stations x of a footprint with rounded corners of radius `corner`."""
    into_corner = np.maximum(np.abs(x) - (length / 2 - corner), 0) / corner
    return width / 2 - corner + corner * np.sqrt(np.clip(1 - into_corner ** 2, 0, 1))


def _painted(vertices, triangles, materials, colours, semantic: int, instance: int) -> Mesh:
    n = len(triangles)
    return Mesh(vertices, vertices.copy(), triangles, np.full(n, semantic, np.uint8),
                np.full(n, instance, np.uint32), np.asarray(materials, np.uint8),
                np.asarray(colours, np.float32).reshape(n, 3))


def car(rng: np.random.Generator, instance: int) -> Mesh:
    """A passenger car of a random style and size: a rounded lower body with wheel arches, a glass cabin
    narrowing towards the roof with roof rails and a B-pillar, wheels with rims, lights and number plates."""
    ids = _ids()
    c = ids['car']
    style = CAR_STYLES[rng.choice(list(CAR_STYLES), p=[s.share for s in CAR_STYLES.values()])]
    L, W, H = (rng.uniform(*style.length), rng.uniform(*style.width), rng.uniform(*style.height))
    paint = CAR_COLORS[rng.choice(len(CAR_COLORS), p=CAR_COLOR_SHARES)] * rng.uniform(0.9, 1.05)
    radius, clearance = rng.uniform(0.29, 0.35), rng.uniform(0.14, 0.2)
    belt = style.belt * H
    axles = (L / 2 - rng.uniform(0.75, 0.95), -L / 2 + rng.uniform(0.7, 0.95))

    # lower body: stations along x, rings of 8 points (chamfered rectangle), bottom raised over the wheels
    x = np.linspace(-L / 2, L / 2, 30)
    half = _rounded_plan(x, L, W, 0.35)
    arch = np.max([np.sqrt(np.clip((radius + 0.06) ** 2 - (x - a) ** 2, 0, None)) for a in axles], 0)
    bottom = np.maximum(clearance, np.where(arch > 0, radius + arch, 0))
    front = (x - L / 2 * (1 - 2 * style.windshield)) / (L * style.windshield)  # > 0 over the bonnet
    x0, x1 = L / 2 - style.windshield * L, L / 2 - style.rear * L  # the cabin's front and rear ends
    boot = np.clip(-(x + L / 2 - 0.35) / 0.35, 0, 1) * (x < x1)  # the bumper drops behind a boot
    top = belt - np.clip(front, 0, 1) * 0.12 - boot * 0.1
    chamfer = np.minimum(0.08, (top - bottom) / 3)
    ring = np.stack([half, half - chamfer, -(half - chamfer), -half, -half, -(half - chamfer), half - chamfer, half],
                    1)
    heights = np.stack([bottom + chamfer, bottom, bottom, bottom + chamfer, top - chamfer, top, top, top - chamfer],
                       1)
    rings = np.stack([np.repeat(x[:, None], 8, 1), ring, heights], -1)
    vertices, triangles = loft(rings)
    parts = [_painted(vertices, triangles, [M.CAR_PAINT] * len(triangles), np.tile(paint, (len(triangles), 1)),
                      c, instance)]

    # cabin: rings of 6 points from the belt to the roof; glass sides and windscreens, painted roof and rails
    r0, r1 = L / 2 - style.roof[0] * L, L / 2 - style.roof[1] * L
    xc = np.linspace(x0, x1, 24)
    roof = np.interp(-xc, [-x0, -r0, -r1, -x1], [belt, H, H, belt + 0.02])
    base = _rounded_plan(xc, L, W, 0.35) - 0.05
    inset = 0.2 * (roof - belt) / max(H - belt, 1e-3)
    rail = np.minimum(0.07, (roof - belt) / 2)
    ring = np.stack([base, -base, -(base - inset + 0.02), -(base - inset), base - inset, base - inset + 0.02], 1)
    heights = np.stack([np.full_like(xc, belt - 0.02), np.full_like(xc, belt - 0.02), roof - rail, roof, roof,
                        roof - rail], 1)
    rings = np.stack([np.repeat(xc[:, None], 6, 1), ring, heights], -1)
    vertices, triangles = loft(rings)
    edge = np.repeat(np.tile(np.arange(6), len(xc) - 1), 2)  # ring edge of each side triangle
    station = np.repeat(np.repeat((xc[:-1] + xc[1:]) / 2, 6), 2)
    pillar = np.abs(station - (r0 + r1) / 2 - 0.05 * L) < 0.07
    glass = ((edge == 1) | (edge == 5)) & ~pillar | ((edge == 3) & ((station > r0) | (station < r1)))
    materials = np.concatenate([np.where(glass, M.GLASS, M.CAR_PAINT), np.full(12, M.CAR_PAINT)])
    colours = np.where(materials[:, None] == M.GLASS, np.array(GLASS), paint)
    parts.append(_painted(vertices, triangles, materials, colours, c, instance))

    # wheels with rims, lights and number plates
    for axle in axles:
        for side in (-1, 1):
            y = side * (W / 2 - 0.13)
            parts.append(wheel(axle, y, radius, 0.21, c, instance))
            hub, hub_triangles = cylinder(radius * 0.62, -0.01, 0.01, resolution=12)
            parts.append(tagged(oriented(hub, roll=np.pi / 2, translation=(axle, y + side * 0.106, radius)),
                                hub_triangles, c, instance, M.METAL, (0.55, 0.56, 0.58)))
    lamp_z = top[-1] - 0.12
    for side in (-1, 1):
        parts.append(tagged(*box((L / 2 - 0.06, side * (W / 2 - 0.45) - 0.18, lamp_z - 0.05),
                                 (L / 2 + 0.005, side * (W / 2 - 0.45) + 0.18, lamp_z + 0.07)),
                            c, instance, M.GLASS, (0.75, 0.75, 0.72)))
        parts.append(tagged(*box((-L / 2 - 0.005, side * (W / 2 - 0.4) - 0.15, belt - 0.2),
                                 (-L / 2 + 0.06, side * (W / 2 - 0.4) + 0.15, belt - 0.06)),
                            c, instance, M.LAMP, (0.45, 0.04, 0.04)))
    for end in (-1, 1):
        parts.append(tagged(*box((end * L / 2 - 0.02, -0.26, 0.32), (end * L / 2 + 0.02, 0.26, 0.44)),
                            c, instance, M.SIGN, (0.9, 0.9, 0.86)))
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
LENGTH_MARGIN = {'car': 5.4, 'truck': 10.5, 'bus': 13.0, 'other-vehicle': 7.5, 'motorcycle': 2.5, 'cyclist': 2.0}


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
        T = np.array([[c, -s, 0, x], [s, c, 0, y], [0, 0, 1, self.path.height], [0, 0, 0, 1.0]])
        return mesh.transformed(T)


class Path:
    """Constant-speed motion; subclasses give the pose at a travelled distance. `height`: of the surface the
    agent stands on (a crowned lane, a sidewalk)."""
    speed: float
    start: float
    height: float

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
    height: float = 0.0

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
    height: float = 0.0

    def pose(self, t: float):
        travelled = self.distance(t)
        return (self.origin[0] + travelled * np.cos(self.yaw), self.origin[1] + travelled * np.sin(self.yaw),
                self.yaw)
