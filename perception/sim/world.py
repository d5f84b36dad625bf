"""Procedural street world: road, markings, sidewalks, frontage (buildings, parking lots, parks, walls, fences),
street furniture, intersections with traffic lights, and traffic. Everything follows from one seed."""
from dataclasses import dataclass

import numpy as np

from perception.sim import agents as A
from perception.sim.materials import M
from perception.sim.meshes import Mesh, box, concat, cone, cylinder, ellipsoid, oriented, strip, tagged
from perception.sim.route import Route
from perception.taxonomy import load_taxonomy

FACADES = np.array([[0.78, 0.74, 0.66], [0.62, 0.6, 0.58], [0.85, 0.84, 0.8], [0.6, 0.36, 0.28], [0.5, 0.52, 0.56],
                    [0.82, 0.72, 0.5], [0.42, 0.4, 0.38], [0.7, 0.78, 0.8]])
PAVERS = np.array([[0.62, 0.62, 0.6], [0.7, 0.66, 0.6], [0.55, 0.45, 0.42], [0.5, 0.52, 0.55]])
FOLIAGE = np.array([[0.2, 0.38, 0.12], [0.28, 0.45, 0.15], [0.16, 0.3, 0.14], [0.35, 0.45, 0.18]])
SIGNS = np.array([[0.85, 0.1, 0.1], [0.1, 0.25, 0.7], [0.95, 0.95, 0.95], [0.95, 0.8, 0.1]])
ZONES = ('buildings', 'parking_lot', 'park', 'walled', 'fenced')
ZONE_WEIGHTS = (0.38, 0.14, 0.18, 0.15, 0.15)
CROSSING_HALF_LENGTH = 80.0


@dataclass(frozen=True)
class CrossSection:
    """A street's profile from the centreline outwards (d > 0 is left; traffic drives on the right)."""
    lane_width: float
    lanes: int            # per direction
    bike_lane: float      # width of the right-hand bike lane, 0 if none
    parking_right: float  # width of the parking lane on each side, 0 if none
    parking_left: float
    sidewalk: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> 'CrossSection':
        return cls(rng.uniform(3.0, 3.7), int(rng.choice([1, 2], p=[0.6, 0.4])),
                   1.6 if rng.random() < 0.5 else 0.0, 2.3 if rng.random() < 0.5 else 0.0,
                   2.3 if rng.random() < 0.3 else 0.0, rng.uniform(2.0, 4.5))

    @property
    def right_edge(self) -> float:
        return -(self.lanes * self.lane_width + self.bike_lane + self.parking_right)

    @property
    def left_edge(self) -> float:
        return self.lanes * self.lane_width + self.parking_left

    def edge(self, side: int) -> float:
        return self.left_edge if side > 0 else self.right_edge

    def lane_centre(self, lane: int, side: int) -> float:
        """Lateral offset of lane 0 (next to the centreline), 1, ... on the right (-1) or left (+1)."""
        return side * (lane + 0.5) * self.lane_width

    @property
    def half_width(self) -> float:
        return max(-self.right_edge, self.left_edge)


@dataclass
class World:
    route: Route
    section: CrossSection
    static: Mesh
    agents: list
    ego_lane: float
    ego_start: float
    ego_speed: tuple       # (mean m/s, amplitude m/s, period s, phase rad)
    sun: np.ndarray        # unit vector towards the sun
    lighting: dict         # ambient, sun strength, exposure, sky colours, cloudiness

    def ego_distance(self, t: float) -> float:
        mean, amplitude, period, phase = self.ego_speed
        w = 2 * np.pi / period
        return self.ego_start + mean * t - amplitude / w * (np.cos(w * t + phase) - np.cos(phase))


def _spans_without(s0: float, s1: float, gaps: list) -> list:
    spans, start = [], s0
    for g0, g1 in sorted(gaps):
        if g1 <= start or g0 >= s1:
            continue
        if g0 > start:
            spans.append((start, g0))
        start = max(start, g1)
    if start < s1:
        spans.append((start, s1))
    return [(a, b) for a, b in spans if b - a > 0.5]


class WorldBuilder:
    """Accumulates static meshes and agents while laying out streets."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.ids = {name: i for i, name in enumerate(load_taxonomy().names)}
        self.parts: list[Mesh] = []
        self.agents: list = []
        self.next_instance = 1
        self.asphalt = np.full(3, rng.uniform(0.26, 0.38))
        self.grass = FOLIAGE[rng.integers(len(FOLIAGE))] * rng.uniform(1.2, 1.6)

    def instance(self) -> int:
        self.next_instance += 1
        return self.next_instance - 1

    def add(self, vertices, triangles, cls: str, material: M, color, instance: int = 0):
        self.parts.append(tagged(vertices, triangles, self.ids[cls], instance, material, color))

    @staticmethod
    def place(route: Route, s, d, geometry):
        """Move (vertices, triangles) built in a street-aligned local frame to street position (s, d)."""
        vertices, triangles = geometry
        T = route.placement(s, d)
        return vertices @ T[:3, :3].T + T[:3, 3], triangles

    def slab(self, route: Route, s0, s1, d0, d1, z0, z1, cls, material, color):
        """A block following the street: top, both long sides and end caps."""
        lo, hi = min(d0, d1), max(d0, d1)
        for a, b in ((route.polyline(s0, s1, hi, z1), route.polyline(s0, s1, lo, z1)),
                     (route.polyline(s0, s1, lo, z0), route.polyline(s0, s1, lo, z1)),
                     (route.polyline(s0, s1, hi, z0), route.polyline(s0, s1, hi, z1))):
            self.add(*strip(a, b), cls, material, color)
        for s in (s0, s1):
            self.add(*strip(route.polyline(s, s + 1e-3, lo, z0)[:1].repeat(2, 0) + [[0, 0, 0], [0, 0, z1 - z0]],
                            route.polyline(s, s + 1e-3, hi, z0)[:1].repeat(2, 0) + [[0, 0, 0], [0, 0, z1 - z0]]),
                     cls, material, color)

    # -- ground, road, sidewalks -------------------------------------------------------------------------------
    def ground(self, lo, hi, cell: float = 25.0):
        xs, ys = np.arange(lo[0], hi[0] + cell, cell), np.arange(lo[1], hi[1] + cell, cell)
        gx, gy = np.meshgrid(xs, ys, indexing='ij')
        vertices = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, -0.05)], 1)
        n = len(ys)
        i, j = np.meshgrid(np.arange(len(xs) - 1), np.arange(n - 1), indexing='ij')
        a = (i * n + j).ravel()
        triangles = np.concatenate([np.stack([a, a + n, a + 1], 1), np.stack([a + 1, a + n, a + n + 1], 1)])
        self.add(vertices, triangles, 'terrain', M.GRASS, self.grass)

    def street(self, route: Route, section: CrossSection, s0, s1, sidewalk_gaps, marking_gaps):
        rng = self.rng
        lanes_right = -(section.lanes * section.lane_width + section.bike_lane)
        lanes_left = section.lanes * section.lane_width
        self.add(*strip(route.polyline(s0, s1, lanes_left, 0.0), route.polyline(s0, s1, lanes_right, 0.0)),
                 'road', M.ASPHALT, self.asphalt)
        parking_colour = self.asphalt * rng.uniform(1.15, 1.5)
        for a, b in _spans_without(s0, s1, sidewalk_gaps):  # parking lanes stop where sidewalks do
            if section.parking_right:
                self.add(*strip(route.polyline(a, b, lanes_right, 0.0), route.polyline(a, b, section.right_edge, 0.0)),
                         'parking', M.ASPHALT, parking_colour)
            if section.parking_left:
                self.add(*strip(route.polyline(a, b, section.left_edge, 0.0), route.polyline(a, b, lanes_left, 0.0)),
                         'parking', M.ASPHALT, parking_colour)
        # markings: centre line, lane separators, edge lines (solid or dashed), gapped at crossings
        lines = [(0.0, section.lanes == 2, rng.random() < 0.3)]
        if section.lanes == 2:
            lines += [(side * section.lane_width, False, False) for side in (-1, 1)]
        lines += [(-section.lanes * section.lane_width, True, False), (lanes_left, True, False)]
        for a, b in _spans_without(s0, s1, marking_gaps):
            for d, solid, yellow in lines:
                colour = (0.85, 0.7, 0.15) if yellow else (0.9, 0.9, 0.88)
                dashes = [(a, b)] if solid else [(x, min(x + 3.0, b)) for x in np.arange(a, b, 9.0)]
                for d0, d1 in dashes:
                    self.add(*strip(route.polyline(d0, d1, d + 0.07, 0.01), route.polyline(d0, d1, d - 0.07, 0.01)),
                             'road', M.PAINT, colour)
        paver = PAVERS[rng.integers(len(PAVERS))]
        for side in (-1, 1):
            edge = section.edge(side)
            for a, b in _spans_without(s0, s1, sidewalk_gaps):
                self.slab(route, a, b, edge, edge + side * section.sidewalk, -0.05, 0.15, 'sidewalk', M.TILES, paver)

    def crosswalk(self, route: Route, section: CrossSection, s0: float, s1: float):
        for d in np.arange(section.right_edge + 0.5, section.left_edge - 0.4, 1.0):
            self.add(*strip(route.polyline(s0, s1, d + 0.25, 0.012), route.polyline(s0, s1, d - 0.25, 0.012)),
                     'road', M.PAINT, (0.9, 0.9, 0.88))

    # -- frontage ----------------------------------------------------------------------------------------------
    def building(self, route: Route, s: float, d_front: float, side: int, width: float, depth: float,
                 height: float):
        rng = self.rng
        material = M.FACADE if rng.random() < 0.7 else M.BRICK
        colour = FACADES[rng.integers(len(FACADES))] if material == M.FACADE else (0.62, 0.32, 0.24)
        setback = width * width * abs(route.curvature(s)) / 8
        vertices, triangles = box((-width / 2, 0, 0), (width / 2, depth, height))
        self.add(*self.place(route, s, d_front + side * setback, (vertices * [1, side, 1], triangles)), 'building',
                 material, colour)

    def buildings(self, route: Route, s0: float, s1: float, d_front: float, side: int, max_depth: float = 20):
        rng = self.rng
        s = s0 + rng.uniform(0, 3)
        curved = max(abs(route.curvature(x)) for x in np.linspace(s0, s1, 5)) > 0
        while True:
            width = rng.uniform(8, 14 if curved else 25)
            if s + width > s1:
                break
            height = rng.uniform(4, 12) if rng.random() < 0.6 else rng.uniform(12, 28)
            self.building(route, s + width / 2, d_front + side * rng.uniform(0.3, 3.0), side, width,
                          rng.uniform(8, max_depth), height)
            s += width + (rng.uniform(0, 2) if rng.random() < 0.7 else rng.uniform(4, 10))

    def tree(self, x, y, rng):
        height = rng.uniform(2.0, 4.5)
        radius = rng.uniform(0.12, 0.3)
        self.add(*cylinder(radius, -0.05, height + 0.5, (x, y)), 'trunk', M.BARK, (0.35, 0.25, 0.17))
        colour = FOLIAGE[rng.integers(len(FOLIAGE))]
        if rng.random() < 0.25:
            self.add(*cone(rng.uniform(1.2, 2.2), rng.uniform(4, 7), (x, y, height)), 'vegetation', M.FOLIAGE, colour)
        else:
            for _ in range(rng.integers(1, 4)):
                r = rng.uniform(1.3, 3.0)
                centre = (x + rng.normal(0, 0.5), y + rng.normal(0, 0.5), height + r * rng.uniform(0.6, 0.9))
                self.add(*ellipsoid((r, r, r * rng.uniform(0.7, 1.0)), centre), 'vegetation', M.FOLIAGE, colour)

    def bush(self, x, y, rng):
        r = rng.uniform(0.5, 1.4)
        self.add(*ellipsoid((r, r * rng.uniform(0.7, 1.3), r * 0.7), (x, y, 0.2)), 'vegetation', M.FOLIAGE,
                 FOLIAGE[rng.integers(len(FOLIAGE))])

    def scatter(self, route: Route, s0, s1, d_front, side, depth, per_m2, plant):
        count = self.rng.poisson(per_m2 * (s1 - s0) * depth)
        s = self.rng.uniform(s0, s1, count)
        d = d_front + side * self.rng.uniform(1.5, depth, count)
        x, y, _ = route.pose(s, d)
        for xi, yi in zip(x, y):
            plant(xi, yi, self.rng)

    def fence(self, route: Route, s0, s1, d, height):
        colour = [(0.35, 0.35, 0.33), (0.5, 0.38, 0.25), (0.2, 0.3, 0.22)][self.rng.integers(3)]
        self.slab(route, s0, s1, d - 0.02, d + 0.02, 0.05, height, 'fence', M.SLATS, colour)
        for s in np.arange(s0, s1, 2.5):
            self.add(*self.place(route, s, d, box((-0.05, -0.05, -0.05), (0.05, 0.05, height + 0.1))), 'fence',
                     M.METAL, colour)

    def zone(self, route: Route, kind: str, s0: float, s1: float, d_front: float, side: int):
        rng = self.rng
        if kind == 'buildings':
            self.buildings(route, s0, s1, d_front, side)
            if rng.random() < 0.3:
                self.slab(route, s0, s1, d_front + side * 0.1, d_front + side * 0.9, -0.05, rng.uniform(0.6, 1.5),
                          'vegetation', M.FOLIAGE, FOLIAGE[rng.integers(len(FOLIAGE))])
        elif kind == 'parking_lot':
            lot = rng.uniform(14, 20)
            self.slab(route, s0, s1, d_front, d_front + side * lot, -0.05, 0.02, 'parking', M.ASPHALT,
                      self.asphalt * 1.3)
            for row in (4.5, lot - 3.0):
                for s in np.arange(s0 + 2, s1 - 2, 2.7):
                    if rng.random() < 0.65:
                        kind_ = 'car' if rng.random() < 0.85 else 'other-vehicle'
                        self.parked(route, s, d_front + side * row, kind_, yaw=np.pi / 2 * rng.choice([-1, 1]))
            if rng.random() < 0.5:
                self.fence(route, s0, s1, d_front + side * (lot + 0.5), rng.uniform(1.2, 2.0))
            self.buildings(route, s0, s1, d_front + side * (lot + 2), side, 15)
        elif kind == 'park':
            self.scatter(route, s0, s1, d_front, side, 30, 1 / 60, self.tree)
            self.scatter(route, s0, s1, d_front, side, 30, 1 / 50, self.bush)
            if rng.random() < 0.3:
                self.slab(route, s0, s1, d_front + side * 0.2, d_front + side * 0.5, -0.05, 0.6, 'wall', M.CONCRETE,
                          (0.6, 0.6, 0.58))
        elif kind == 'walled':
            material, colour = [(M.BRICK, (0.6, 0.33, 0.25)), (M.CONCRETE, (0.65, 0.64, 0.6)),
                                (M.CONCRETE, (0.8, 0.78, 0.7))][rng.integers(3)]
            self.slab(route, s0, s1, d_front + side * 0.2, d_front + side * 0.5, -0.05, rng.uniform(1.0, 2.8), 'wall',
                      material, colour)
            if rng.random() < 0.5:
                self.scatter(route, s0, s1, d_front + side * 1.5, side, 8, 1 / 30, self.tree)
            if rng.random() < 0.7:
                self.buildings(route, s0, s1, d_front + side * 4, side)
        else:  # fenced field
            self.fence(route, s0, s1, d_front + side * 0.3, rng.uniform(1.2, 2.0))
            self.scatter(route, s0, s1, d_front, side, 25, 1 / 90, self.tree)
            self.scatter(route, s0, s1, d_front, side, 25, 1 / 60, self.bush)

    def frontage(self, route: Route, section: CrossSection, spans: list):
        for side in (-1, 1):
            d_front = section.edge(side) + side * section.sidewalk
            for a, b in spans:
                s = a
                while s < b - 5:
                    end = min(b, s + self.rng.uniform(25, 90))
                    self.zone(route, self.rng.choice(ZONES, p=ZONE_WEIGHTS), s, end, d_front, side)
                    s = end

    # -- street furniture --------------------------------------------------------------------------------------
    def street_light(self, route, s, d, side):
        height = self.rng.uniform(6, 9)
        grey = (0.45, 0.46, 0.47)
        self.add(*self.place(route, s, d, cylinder(0.09, -0.05, height)), 'pole',
                 M.METAL, grey)
        self.add(*self.place(route, s, d, box((-0.05, 0, height - 0.1), (0.05, -side * 1.6, height))), 'pole',
                 M.METAL, grey)
        self.add(*self.place(route, s, d, box((-0.2, -side * 1.3, height - 0.2), (0.2, -side * 1.9, height))),
                 'pole',
                 M.METAL, grey)

    def sign(self, route, s, d, facing_yaw):
        height = self.rng.uniform(2.0, 2.6)
        self.add(*self.place(route, s, d, cylinder(0.035, -0.05, height + 0.3)),
                 'pole', M.METAL, (0.5, 0.5, 0.5))
        shape = self.rng.integers(3)
        size = self.rng.uniform(0.5, 0.8)
        if shape == 0:
            vertices, triangles = box((0.04, -size / 2, 0), (0.07, size / 2, size))
        else:  # disc or triangle: a flat cylinder with 24 or 3 sides, standing up
            vertices, triangles = cylinder(size / 2, -0.015, 0.015, resolution=24 if shape == 1 else 3)
            vertices = oriented(vertices, pitch=np.pi / 2, roll=np.pi / 2 if shape == 2 else 0,
                                translation=(0.055, 0, size / 2))
        vertices = oriented(vertices, yaw=facing_yaw, translation=(0, 0, height))
        self.add(*self.place(route, s, d, (vertices, triangles)), 'traffic-sign', M.SIGN,
                 SIGNS[self.rng.integers(len(SIGNS))])

    def traffic_light(self, route, s, d, facing_yaw, mast: float = 0.0):
        """A pole with a signal head facing along facing_yaw (street frame); with a mast arm of length `mast`
        reaching towards -d the head hangs over the road."""
        height = self.rng.uniform(3.2, 4.5) if not mast else 5.5
        self.add(*self.place(route, s, d, cylinder(0.1, -0.05, height + 0.2)), 'pole',
                 M.METAL, (0.3, 0.3, 0.3))
        head_d = 0.0
        if mast:
            side = -np.sign(d) if d else 1.0
            self.add(*self.place(route, s, d, box((-0.06, 0, height), (0.06, side * mast, height + 0.12))), 'pole',
                     M.METAL, (0.3, 0.3, 0.3))
            head_d = side * (mast - 0.3)
        bottom = height - 1.0 if mast else height - 0.95
        housing = box((-0.15, -0.17, bottom), (0.15, 0.17, bottom + 0.95))
        lit = self.rng.integers(3)
        parts = [(oriented(housing[0], yaw=facing_yaw, translation=(0, head_d, 0)), housing[1],
                  M.METAL, (0.08, 0.08, 0.08))]
        for k, colour in enumerate(((1.0, 0.1, 0.05), (1.0, 0.7, 0.0), (0.1, 1.0, 0.4))):
            lamp, triangles = cylinder(0.1, -0.01, 0.01, resolution=12)
            lamp = oriented(lamp, pitch=np.pi / 2, translation=(0.16, 0, bottom + 0.77 - k * 0.3))
            brightness = 1.0 if k == lit else 0.25
            parts.append((oriented(lamp, yaw=facing_yaw, translation=(0, head_d, 0)), triangles, M.LAMP,
                          np.array(colour) * brightness))
        for vertices, triangles, material, colour in parts:
            self.add(*self.place(route, s, d, (vertices, triangles)), 'traffic-light', material, colour)

    def furniture(self, route: Route, section: CrossSection, spans: list):
        rng = self.rng
        for side in (-1, 1):
            edge = section.edge(side)
            facing = np.pi if side < 0 else 0.0  # signs face the traffic approaching on their side
            for a, b in spans:
                for s in np.arange(a + rng.uniform(2, 20), b - 1, rng.uniform(25, 40)):
                    self.street_light(route, s, edge + side * 0.5, side)
                for s in np.arange(a + rng.uniform(3, 20), b - 1, rng.uniform(15, 35)):
                    self.sign(route, s, edge + side * 0.45, facing)
                if section.sidewalk > 2.8 and rng.random() < 0.5:
                    for s in np.arange(a + rng.uniform(3, 8), b - 2, rng.uniform(8, 14)):
                        x, y, _ = route.pose(s, edge + side * section.sidewalk * 0.6)
                        self.tree(float(x), float(y), rng)
                for s in np.arange(a + 10, b - 3, 30.0):
                    if rng.random() < 0.2:
                        for k in range(rng.integers(1, 4)):
                            self.parked(route, s + 0.8 * k, edge + side * (section.sidewalk - 0.9), 'bicycle',
                                        yaw=np.pi / 2)

    # -- agents ------------------------------------------------------------------------------------------------
    def vehicle(self, kind: str, path: A.Path) -> A.Agent:
        rng = self.rng
        if kind in A.VEHICLES:
            instance = self.instance()
            return A.Agent(kind, path, A.VEHICLES[kind](rng, instance), instances=(instance,))
        vehicle, rider = self.instance(), self.instance()
        if kind == 'motorcycle':
            body, seat = A.motorcycle(rng, vehicle), (0.85, 0.45, 0.35)
        else:
            body, seat = A.bicycle(rng, vehicle), (0.9, 0.38, 0.3)
        return A.Agent(kind, path, body, A.person(rng, rider, self.ids['rider']), seat, instances=(vehicle, rider))

    def parked(self, route: Route, s: float, d: float, kind: str, yaw: float = 0.0):
        x, y, heading = route.pose(s, d)
        path = A.LinePath((float(x), float(y)), float(heading) + yaw, 0.0)
        if kind == 'bicycle':
            instance = self.instance()
            self.agents.append(A.Agent('bicycle', path, A.bicycle(self.rng, instance), instances=(instance,)))
        else:
            self.agents.append(self.vehicle(kind, path))

    def pedestrian(self, path: A.Path):
        instance = self.instance()
        self.agents.append(A.Agent('pedestrian', path, person=A.person(self.rng, instance), instances=(instance,),
                                   stride=self.rng.uniform(1.2, 1.6)))

    def platoon(self, route: Route, d: float, speed: float, first: float, last: float, kinds, probabilities,
                gap=(5.0, 40.0)):
        """Vehicles at one speed in one lane from street position `first` to `last` (reversed for speed < 0)."""
        s = first
        while s < last:
            kind = str(self.rng.choice(kinds, p=probabilities))
            half = A.LENGTH_MARGIN[kind] / 2
            self.agents.append(self.vehicle(kind, A.RoutePath(route, s + half, speed, d, reverse=speed < 0)))
            s += 2 * half + self.rng.uniform(*gap)


TRAFFIC = (('car', 'truck', 'bus', 'other-vehicle', 'motorcycle'), (0.66, 0.1, 0.07, 0.07, 0.1))
PARKED = (('car', 'other-vehicle', 'truck', 'motorcycle'), (0.85, 0.07, 0.04, 0.04))


def build_world(seed: int, duration: float) -> World:
    """The street world for one drive of `duration` seconds."""
    rng = np.random.default_rng(seed)
    speed_mean = rng.uniform(6.5, 13.5)
    ego_speed = (speed_mean, rng.uniform(0, min(1.5, speed_mean - 5, 15 - speed_mean)), rng.uniform(6, 15),
                 rng.uniform(0, 2 * np.pi))
    behind, ahead = 90.0, 170.0
    route = Route.random(rng, behind + 15.0 * duration + ahead)
    section = CrossSection.random(rng)
    builder = WorldBuilder(rng)
    ego_lane = section.lane_centre(section.lanes - 1, -1)

    # intersections on straight stretches, the first one soon after the start when possible
    crossings = []
    for a, b in route.straight:
        for s in np.arange(max(a + 25, behind + rng.uniform(15, 60)), b - 25, rng.uniform(90, 160)):
            if not crossings or s - crossings[-1] > 80:
                crossings.append(float(s))
    cross_sections = [CrossSection.random(rng) for _ in crossings]
    gaps = [(s - c.half_width - c.sidewalk, s + c.half_width + c.sidewalk) for s, c in zip(crossings, cross_sections)]
    marking_gaps = [(a - 4.5, b + 4.5) for a, b in gaps]
    zone_gaps = [(a - 1.5, b + 1.5) for a, b in gaps]

    lo, hi = route.xy.min(0) - 250, route.xy.max(0) + 250
    builder.ground(lo, hi)
    builder.street(route, section, route.s[0], route.s[-1], gaps, marking_gaps)
    spans = _spans_without(route.s[0], route.s[-1], zone_gaps)
    builder.frontage(route, section, spans)
    builder.furniture(route, section, spans)
    for a, b in spans:  # signalised mid-block pedestrian crossings
        if b - a > 60 and rng.random() < 0.6:
            s = rng.uniform(a + 20, b - 20)
            builder.crosswalk(route, section, s - 1.5, s + 1.5)
            builder.traffic_light(route, s - 3, section.right_edge - 0.8, np.pi,
                                  mast=section.lanes * section.lane_width if rng.random() < 0.5 else 0.0)
            builder.traffic_light(route, s + 3, section.left_edge + 0.8, 0.0)

    for s_i, cross, (g0, g1) in zip(crossings, cross_sections, gaps):
        x, y, heading = route.pose(s_i, 0.0)
        crossing = Route.straight_line((float(x), float(y)), float(heading) + np.pi / 2, -CROSSING_HALF_LENGTH,
                                       CROSSING_HALF_LENGTH)
        inner = (section.right_edge - section.sidewalk, section.left_edge + section.sidewalk)
        builder.street(crossing, cross, -CROSSING_HALF_LENGTH, CROSSING_HALF_LENGTH,
                       [(section.right_edge, section.left_edge)], [(inner[0] - 1, inner[1] + 1)])
        cross_spans = [(-CROSSING_HALF_LENGTH, inner[0] - 1), (inner[1] + 1, CROSSING_HALF_LENGTH)]
        builder.frontage(crossing, cross, cross_spans)
        builder.crosswalk(route, section, g0 - 4.0, g0 - 1.0)
        builder.crosswalk(route, section, g1 + 1.0, g1 + 4.0)
        # signals facing the ego's approach (right side, near and far), the oncoming approach and the crossing
        builder.traffic_light(route, g0 - 1.5, section.right_edge - 0.8, np.pi,
                              mast=section.lanes * section.lane_width if rng.random() < 0.5 else 0.0)
        builder.traffic_light(route, g1 + 1.5, section.right_edge - 0.8, np.pi)
        builder.traffic_light(route, g1 + 1.5, section.left_edge + 0.8, 0.0)
        builder.traffic_light(crossing, inner[0] - 0.8, cross.edge(-1) - 0.8, np.pi)
        builder.traffic_light(crossing, inner[1] + 0.8, cross.edge(1) + 0.8, 0.0)
        _cross_traffic(builder, route, section, crossing, cross, g0, g1)

    _main_traffic(builder, route, section, behind, ego_speed, spans)
    sun_azimuth, sun_elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(20, 65))
    sun = np.array([np.cos(sun_elevation) * np.cos(sun_azimuth), np.cos(sun_elevation) * np.sin(sun_azimuth),
                    np.sin(sun_elevation)])
    lighting = dict(ambient=rng.uniform(0.35, 0.55), sun=rng.uniform(0.55, 0.95), exposure=rng.uniform(0.75, 1.25),
                    zenith=np.array([0.3, 0.5, 0.85]) * rng.uniform(0.8, 1.1),
                    horizon=np.array([0.75, 0.82, 0.9]) * rng.uniform(0.85, 1.05), clouds=rng.uniform(0, 0.7))
    return World(route, section, concat(builder.parts), builder.agents, ego_lane, behind, ego_speed, sun, lighting)


def _main_traffic(builder: WorldBuilder, route: Route, section: CrossSection, ego_start: float, ego_speed: tuple,
                  spans: list):
    rng = builder.rng
    v_min, v_max = ego_speed[0] - ego_speed[1], ego_speed[0] + ego_speed[1]
    start, end = route.s[0], route.s[-1]
    ego_lane = section.lanes - 1
    for lane in range(section.lanes):
        # the ego's lane: a platoon ahead that is faster and one behind that is slower, so nobody collides
        d = section.lane_centre(lane, -1)
        if lane == ego_lane:
            builder.platoon(route, d, v_max + rng.uniform(0.5, 3), ego_start + rng.uniform(12, 40), end, *TRAFFIC)
            slow = max(2.0, v_min - rng.uniform(0.5, 3))
            builder.platoon(route, d, slow, start, ego_start - 14 - rng.uniform(0, 20) - 12, *TRAFFIC)
        else:
            builder.platoon(route, d, rng.uniform(5, 16), start + rng.uniform(0, 30), end, *TRAFFIC)
        builder.platoon(route, section.lane_centre(lane, 1), -rng.uniform(5, 16), start + rng.uniform(0, 30), end,
                        *TRAFFIC, gap=(8.0, 60.0))
    if section.bike_lane:
        d = -(section.lanes * section.lane_width + section.bike_lane / 2)
        builder.platoon(route, d, rng.uniform(3, 6.5), start + rng.uniform(0, 40), end, ('cyclist',), (1.0,),
                        gap=(10.0, 70.0))
    for side, width in ((-1, section.parking_right), (1, section.parking_left)):
        if width:
            d = section.edge(side) - side * width / 2
            for a, b in spans:
                for s in np.arange(a + 3, b - 3, 6.5):
                    if rng.random() < 0.7:
                        builder.parked(route, s, d, str(rng.choice(PARKED[0], p=PARKED[1])),
                                       yaw=0.0 if side < 0 else np.pi)
    for side in (-1, 1):
        edge = section.edge(side)
        for a, b in spans:
            for s in rng.uniform(a, b, rng.poisson((b - a) / 18)):
                d = edge + side * rng.uniform(0.6, section.sidewalk - 0.4)
                speed = 0.0 if rng.random() < 0.2 else rng.uniform(0.8, 1.6) * rng.choice([-1, 1])
                builder.pedestrian(A.RoutePath(route, float(s), speed, float(d), reverse=speed < 0))


def _cross_traffic(builder: WorldBuilder, main: Route, main_section: CrossSection, crossing: Route,
                   section: CrossSection, g0: float, g1: float):
    """Traffic on a crossing street never enters the junction while the ego may be in it: per lane, a queue
    waits at the stop line on the approach and a platoon that already crossed drives away on the far side.
    Pedestrians wait at the main street's crosswalks."""
    rng = builder.rng
    near = main_section.right_edge - main_section.sidewalk - 2.0  # crossing coordinate of the stop lines
    far = main_section.left_edge + main_section.sidewalk + 2.0
    for lane in range(section.lanes):
        for direction in (1, -1):
            d = section.lane_centre(lane, -direction)  # traffic keeps right
            stop, exit_ = (near, far) if direction > 0 else (far, near)
            s = stop
            for _ in range(rng.integers(0, 4)):
                kind = str(rng.choice(TRAFFIC[0], p=TRAFFIC[1]))
                half = A.LENGTH_MARGIN[kind] / 2
                builder.agents.append(builder.vehicle(kind, A.RoutePath(crossing, s - direction * half, 0.0, d,
                                                                        reverse=direction < 0)))
                s -= direction * (2 * half + rng.uniform(1.5, 4))
            speed = rng.uniform(6, 14)
            if direction > 0:
                builder.platoon(crossing, d, speed, exit_ + rng.uniform(0, 30), crossing.s[-1], *TRAFFIC)
            else:
                builder.platoon(crossing, d, -speed, crossing.s[0], exit_ - rng.uniform(0, 30), *TRAFFIC)
    for s in (g0 - 2.5, g1 + 2.5):
        for side in (-1, 1):
            if rng.random() < 0.5:
                d = main_section.edge(side) + side * rng.uniform(0.5, main_section.sidewalk - 0.3)
                builder.pedestrian(A.RoutePath(main, s + rng.normal(0, 0.5), 0.0, d, reverse=rng.random() < 0.5))
