"""Streets: the cross-section (lanes, bike and parking lanes, sidewalks), the road with its markings, parking
lanes, sidewalks, crosswalks, and the ground around. Positions are street coordinates: s along the centreline,
d across it (d > 0 is left; traffic drives on the right), in metres."""
from dataclasses import dataclass

import numpy as np

from perception.sim.materials import M
from perception.sim.meshes import strip
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder, spans_without
from perception.sim.world.palette import PAVERS, WHITE_PAINT, YELLOW_PAINT

# cross-section, drawn per street
LANE_WIDTH = (3.0, 3.7)
LANES_PER_DIRECTION, LANES_PROBABILITIES = (1, 2), (0.6, 0.4)
BIKE_LANE_WIDTH, BIKE_LANE_PROBABILITY = 1.6, 0.5
PARKING_LANE_WIDTH, PARKING_RIGHT_PROBABILITY, PARKING_LEFT_PROBABILITY = 2.3, 0.5, 0.3
SIDEWALK_WIDTH = (2.0, 4.5)

GROUND_CELL, GROUND_HEIGHT = 25.0, -0.05          # the terrain grid below everything
PARKING_BRIGHTENING = (1.15, 1.5)                 # parking lanes: lighter asphalt
YELLOW_CENTRE_LINE_PROBABILITY = 0.3
MARKING_HALF_WIDTH, MARKING_HEIGHT = 0.07, 0.01
DASH_LENGTH, DASH_PERIOD = 3.0, 9.0
KERB_BOTTOM, KERB_TOP = -0.05, 0.15               # sidewalk slab heights
CROSSWALK_FIRST_STRIPE, CROSSWALK_END_MARGIN = 0.5, 0.4  # from the right edge / before the left edge
CROSSWALK_STRIPE_PITCH, CROSSWALK_STRIPE_HALF_WIDTH, CROSSWALK_HEIGHT = 1.0, 0.25, 0.012


@dataclass(frozen=True, kw_only=True)
class CrossSection:
    """A street's profile from the centreline outwards."""
    lane_width: float
    lanes: int            # per direction
    bike_lane: float      # width of the right-hand bike lane, 0 if none
    parking_right: float  # width of the parking lane on each side, 0 if none
    parking_left: float
    sidewalk: float

    @classmethod
    def random(cls, rng: np.random.Generator) -> 'CrossSection':
        return cls(lane_width=rng.uniform(*LANE_WIDTH),
                   lanes=int(rng.choice(LANES_PER_DIRECTION, p=LANES_PROBABILITIES)),
                   bike_lane=BIKE_LANE_WIDTH if rng.random() < BIKE_LANE_PROBABILITY else 0.0,
                   parking_right=PARKING_LANE_WIDTH if rng.random() < PARKING_RIGHT_PROBABILITY else 0.0,
                   parking_left=PARKING_LANE_WIDTH if rng.random() < PARKING_LEFT_PROBABILITY else 0.0,
                   sidewalk=rng.uniform(*SIDEWALK_WIDTH))

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


def ground(builder: WorldBuilder, lo, hi):
    """Flat terrain over the rectangle lo..hi (x, y)."""
    xs, ys = np.arange(lo[0], hi[0] + GROUND_CELL, GROUND_CELL), np.arange(lo[1], hi[1] + GROUND_CELL, GROUND_CELL)
    gx, gy = np.meshgrid(xs, ys, indexing='ij')
    vertices = np.stack([gx.ravel(), gy.ravel(), np.full(gx.size, GROUND_HEIGHT)], 1)
    n = len(ys)
    i, j = np.meshgrid(np.arange(len(xs) - 1), np.arange(n - 1), indexing='ij')
    a = (i * n + j).ravel()
    triangles = np.concatenate([np.stack([a, a + n, a + 1], 1), np.stack([a + 1, a + n, a + n + 1], 1)])
    builder.add(vertices, triangles, 'terrain', M.GRASS, builder.grass)


def street(builder: WorldBuilder, route: Route, section: CrossSection, s0, s1, sidewalk_gaps, marking_gaps):
    """Road, parking lanes, markings and sidewalks from s0 to s1; sidewalks and parking stop at `sidewalk_gaps`,
    markings at `marking_gaps` (crossing streets)."""
    rng = builder.rng
    lanes_right = -(section.lanes * section.lane_width + section.bike_lane)
    lanes_left = section.lanes * section.lane_width
    builder.add(*strip(route.polyline(s0, s1, lanes_left, 0.0), route.polyline(s0, s1, lanes_right, 0.0)),
                'road', M.ASPHALT, builder.asphalt)
    parking_colour = builder.asphalt * rng.uniform(*PARKING_BRIGHTENING)
    for a, b in spans_without(s0, s1, sidewalk_gaps):  # parking lanes stop where sidewalks do
        if section.parking_right:
            builder.add(*strip(route.polyline(a, b, lanes_right, 0.0), route.polyline(a, b, section.right_edge, 0.0)),
                        'parking', M.ASPHALT, parking_colour)
        if section.parking_left:
            builder.add(*strip(route.polyline(a, b, section.left_edge, 0.0), route.polyline(a, b, lanes_left, 0.0)),
                        'parking', M.ASPHALT, parking_colour)
    # markings (offset, solid, yellow): centre line, lane separators, edge lines, gapped at crossings
    lines = [(0.0, section.lanes == 2, rng.random() < YELLOW_CENTRE_LINE_PROBABILITY)]
    if section.lanes == 2:
        lines += [(side * section.lane_width, False, False) for side in (-1, 1)]
    lines += [(-section.lanes * section.lane_width, True, False), (lanes_left, True, False)]
    for a, b in spans_without(s0, s1, marking_gaps):
        for d, solid, yellow in lines:
            colour = YELLOW_PAINT if yellow else WHITE_PAINT
            dashes = [(a, b)] if solid else [(x, min(x + DASH_LENGTH, b)) for x in np.arange(a, b, DASH_PERIOD)]
            for d0, d1 in dashes:
                builder.add(*strip(route.polyline(d0, d1, d + MARKING_HALF_WIDTH, MARKING_HEIGHT),
                                   route.polyline(d0, d1, d - MARKING_HALF_WIDTH, MARKING_HEIGHT)),
                            'road', M.PAINT, colour)
    paver = PAVERS[rng.integers(len(PAVERS))]
    for side in (-1, 1):
        edge = section.edge(side)
        for a, b in spans_without(s0, s1, sidewalk_gaps):
            builder.slab(route, a, b, edge, edge + side * section.sidewalk, KERB_BOTTOM, KERB_TOP, 'sidewalk',
                         M.TILES, paver)


def crosswalk(builder: WorldBuilder, route: Route, section: CrossSection, s0: float, s1: float):
    """Zebra stripes across the whole road from s0 to s1."""
    for d in np.arange(section.right_edge + CROSSWALK_FIRST_STRIPE, section.left_edge - CROSSWALK_END_MARGIN,
                       CROSSWALK_STRIPE_PITCH):
        builder.add(*strip(route.polyline(s0, s1, d + CROSSWALK_STRIPE_HALF_WIDTH, CROSSWALK_HEIGHT),
                           route.polyline(s0, s1, d - CROSSWALK_STRIPE_HALF_WIDTH, CROSSWALK_HEIGHT)),
                    'road', M.PAINT, WHITE_PAINT)
