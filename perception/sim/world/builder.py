"""The world builder: it accumulates static meshes (with class, instance, material and colour) and agents while
the layout functions of the other modules lay out streets, all drawing from one random generator in a fixed
order, so one seed gives one world."""
import numpy as np

from perception.sim.materials import M
from perception.sim.meshes import Mesh, strip, tagged
from perception.sim.route import Route
from perception.sim.world.palette import ASPHALT_GREY, FOLIAGE, GRASS_BRIGHTENING
from perception.taxonomy import load_taxonomy

END_CAP_STEP = 1e-3   # metres along the street that give an end cap its direction
MIN_SPAN = 0.5        # metres: shorter spans between gaps are dropped


def spans_without(s0: float, s1: float, gaps: list) -> list:
    """The parts of [s0, s1] outside the (start, end) gaps, each longer than MIN_SPAN."""
    spans, start = [], s0
    for g0, g1 in sorted(gaps):
        if g1 <= start or g0 >= s1:
            continue
        if g0 > start:
            spans.append((start, g0))
        start = max(start, g1)
    if start < s1:
        spans.append((start, s1))
    return [(a, b) for a, b in spans if b - a > MIN_SPAN]


class WorldBuilder:
    """Static meshes and agents of one world, plus the colours drawn once per world (asphalt, grass)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.ids = {name: i for i, name in enumerate(load_taxonomy().names)}
        self.parts: list[Mesh] = []
        self.agents: list = []
        self.next_instance = 1
        self.asphalt = np.full(3, rng.uniform(*ASPHALT_GREY))
        self.grass = FOLIAGE[rng.integers(len(FOLIAGE))] * rng.uniform(*GRASS_BRIGHTENING)

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
            rise = [[0, 0, 0], [0, 0, z1 - z0]]
            self.add(*strip(route.polyline(s, s + END_CAP_STEP, lo, z0)[:1].repeat(2, 0) + rise,
                            route.polyline(s, s + END_CAP_STEP, hi, z0)[:1].repeat(2, 0) + rise),
                     cls, material, color)
