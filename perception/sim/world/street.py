"""Streets: the cross-section (lanes, bike and parking lanes, sidewalks), the road with its markings, parking
lanes, sidewalks, crosswalks, and the ground around. Positions are street coordinates: s along the centreline,
d across it (d > 0 is left; traffic drives on the right), in metres."""
from dataclasses import dataclass, replace

import numpy as np

from perception.sim.materials import M
from perception.sim.meshes import box, cylinder, strip
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder, spans_without
from perception.sim.world.palette import IRON, KERB_STONE, PAVERS, WHITE_PAINT, YELLOW_PAINT

# cross-section, drawn per street
LANE_WIDTH = (3.0, 3.7)
LANES_PER_DIRECTION, LANES_PROBABILITIES = (1, 2), (0.6, 0.4)
BIKE_LANE_WIDTH, BIKE_LANE_PROBABILITY = 1.6, 0.5
PARKING_LANE_WIDTH, PARKING_RIGHT_PROBABILITY, PARKING_LEFT_PROBABILITY = 2.3, 0.5, 0.3
SIDEWALK_WIDTH = (2.0, 4.5)
KERB_HEIGHT = (0.1, 0.18)                          # sidewalk surface above the road
VERGE_PROBABILITY, VERGE_WIDTH, VERGE_MIN_SIDEWALK = 0.3, (0.8, 2.0), 2.8  # a grass strip along the kerb
# the carriageway is crowned: it falls from the centreline to both kerbs at about this cross slope (design guides:
# 1.5-2.5 %; in the KITTI raw 0001 sweeps the ground falls ~15 cm from the ego's lane to 8 m left of it), the crown
# staying below the sidewalks
CROSS_SLOPE, MAX_CROWN_OF_KERB = (0.005, 0.03), 0.9

GROUND_CELL, GROUND_HEIGHT = 25.0, -0.05          # the terrain grid below everything
PARKING_BRIGHTENING = (1.15, 1.5)                 # parking lanes: lighter asphalt
YELLOW_CENTRE_LINE_PROBABILITY = 0.3
MARKING_HALF_WIDTH, MARKING_HEIGHT = 0.07, 0.01
DASH_LENGTH, DASH_PERIOD = 3.0, 9.0
KERB_BOTTOM = -0.05                               # sidewalk slabs reach below the road surface
KERB_STONE_WIDTH, KERB_STONE_RISE, KERB_STONE_OUTSET = 0.15, 0.005, 0.002  # a lighter stone edging the sidewalk
VERGE_RISE = 0.01                                 # the verge's grass lies this far above the pavers
# ground clutter on the road: manhole covers in the lanes, drain grates along the kerbs
MANHOLE_START, MANHOLE_SPACING, MANHOLE_RADIUS, MANHOLE_LATERAL = (5, 30), (25, 60), 0.32, 0.6
DRAIN_START, DRAIN_SPACING, DRAIN_SIZE, DRAIN_KERB_OFFSET = (3, 20), (20, 40), (0.3, 0.5), 0.25
COVER_HEIGHT = 0.012
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
    sidewalk: float       # from the kerb to the frontage, verge included
    kerb: float           # height of the sidewalk above the road
    verge: float          # width of the grass strip along the kerb, 0 if none
    crown: float = 0.0    # height of the centreline above the kerb-side edges of the carriageway

    @classmethod
    def random(cls, rng: np.random.Generator, profile_rng: np.random.Generator | None = None) -> 'CrossSection':
        """A drawn cross-section; the crown from `profile_rng` (default `rng`), so that adding it left the
        layout every seed draws from `rng` as it was."""
        sidewalk = rng.uniform(*SIDEWALK_WIDTH)
        verge = rng.uniform(*VERGE_WIDTH) if sidewalk >= VERGE_MIN_SIDEWALK and rng.random() < VERGE_PROBABILITY \
            else 0.0
        section = cls(lane_width=rng.uniform(*LANE_WIDTH),
                      lanes=int(rng.choice(LANES_PER_DIRECTION, p=LANES_PROBABILITIES)),
                      bike_lane=BIKE_LANE_WIDTH if rng.random() < BIKE_LANE_PROBABILITY else 0.0,
                      parking_right=PARKING_LANE_WIDTH if rng.random() < PARKING_RIGHT_PROBABILITY else 0.0,
                      parking_left=PARKING_LANE_WIDTH if rng.random() < PARKING_LEFT_PROBABILITY else 0.0,
                      sidewalk=sidewalk, kerb=rng.uniform(*KERB_HEIGHT), verge=min(verge, sidewalk - 1.5))
        slope = (profile_rng or rng).uniform(*CROSS_SLOPE)
        crown = min(slope * (section.left_edge - section.right_edge) / 2, MAX_CROWN_OF_KERB * section.kerb)
        return replace(section, crown=crown)

    def surface(self, d):
        """Height of the street's surface at lateral offset d: the crowned carriageway, the sidewalks beside it
        (kerb high), the ground beyond (0)."""
        d = np.asarray(d, float)
        edge = np.where(d >= 0, self.left_edge, -self.right_edge)
        across = np.abs(d) / edge
        return np.where(across <= 1, self.crown * (1 - across),
                        np.where(np.abs(d) <= edge + self.sidewalk, self.kerb, 0.0))

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


def surface_line(route: Route, section: CrossSection, s0: float, s1: float, d: float, above: float = 0.0):
    """(K, 3) points along the street from s0 to s1 at lateral offset d, `above` its surface there."""
    return route.polyline(s0, s1, d, float(section.surface(d)) + above)


def street(builder: WorldBuilder, route: Route, section: CrossSection, s0, s1, sidewalk_gaps, marking_gaps):
    """Road, parking lanes, markings and sidewalks from s0 to s1; sidewalks and parking stop at `sidewalk_gaps`,
    markings at `marking_gaps` (crossing streets)."""
    rng = builder.rng
    lanes_right = -(section.lanes * section.lane_width + section.bike_lane)
    lanes_left = section.lanes * section.lane_width

    def along(a, b, d, above=0.0):
        return surface_line(route, section, a, b, d, above)
    for left, right in ((lanes_left, 0.0), (0.0, lanes_right)):  # the two halves of the crowned carriageway
        builder.add(*strip(along(s0, s1, left), along(s0, s1, right)), 'road', M.ASPHALT, builder.asphalt)
    parking_colour = builder.asphalt * rng.uniform(*PARKING_BRIGHTENING)
    for a, b in spans_without(s0, s1, sidewalk_gaps):  # parking lanes stop where sidewalks do
        if section.parking_right:
            builder.add(*strip(along(a, b, lanes_right), along(a, b, section.right_edge)), 'parking', M.ASPHALT,
                        parking_colour)
        if section.parking_left:
            builder.add(*strip(along(a, b, section.left_edge), along(a, b, lanes_left)), 'parking', M.ASPHALT,
                        parking_colour)
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
                builder.add(*strip(along(d0, d1, d + MARKING_HALF_WIDTH, MARKING_HEIGHT),
                                   along(d0, d1, d - MARKING_HALF_WIDTH, MARKING_HEIGHT)),
                            'road', M.PAINT, colour)
    paver = PAVERS[rng.integers(len(PAVERS))]
    kerb_stone = np.asarray(KERB_STONE) * rng.uniform(0.85, 1.1)
    for side in (-1, 1):
        edge = section.edge(side)
        for a, b in spans_without(s0, s1, sidewalk_gaps):
            builder.slab(route, a, b, edge, edge + side * section.sidewalk, KERB_BOTTOM, section.kerb, 'sidewalk',
                         M.TILES, paver)
            builder.slab(route, a, b, edge - side * KERB_STONE_OUTSET, edge + side * KERB_STONE_WIDTH, KERB_BOTTOM,
                         section.kerb + KERB_STONE_RISE, 'sidewalk', M.CONCRETE, kerb_stone)
            if section.verge:
                verge_end = edge + side * (KERB_STONE_WIDTH + section.verge)
                builder.slab(route, a, b, edge + side * KERB_STONE_WIDTH, verge_end, KERB_BOTTOM,
                             section.kerb + VERGE_RISE, 'terrain', M.GRASS, builder.grass)
            for s in np.arange(a + rng.uniform(*DRAIN_START), b, rng.uniform(*DRAIN_SPACING)):
                size, d = np.array(DRAIN_SIZE) / 2, edge - side * DRAIN_KERB_OFFSET
                z = float(section.surface(d))
                cover = box((-size[1], -size[0], z), (size[1], size[0], z + COVER_HEIGHT))
                builder.add(*builder.place(route, s, d, cover), 'road', M.METAL, IRON)
    for s in np.arange(s0 + rng.uniform(*MANHOLE_START), s1, rng.uniform(*MANHOLE_SPACING)):
        d = section.lane_centre(int(rng.integers(section.lanes)), rng.choice([-1, 1])) \
            + rng.uniform(-1, 1) * MANHOLE_LATERAL
        z = float(section.surface(d))
        builder.add(*builder.place(route, s, d, cylinder(MANHOLE_RADIUS, z, z + COVER_HEIGHT, resolution=16)),
                    'road', M.METAL, IRON)


def crosswalk(builder: WorldBuilder, route: Route, section: CrossSection, s0: float, s1: float):
    """Zebra stripes across the whole road from s0 to s1."""
    for d in np.arange(section.right_edge + CROSSWALK_FIRST_STRIPE, section.left_edge - CROSSWALK_END_MARGIN,
                       CROSSWALK_STRIPE_PITCH):
        left, right = d + CROSSWALK_STRIPE_HALF_WIDTH, d - CROSSWALK_STRIPE_HALF_WIDTH
        builder.add(*strip(surface_line(route, section, s0, s1, left, CROSSWALK_HEIGHT),
                           surface_line(route, section, s0, s1, right, CROSSWALK_HEIGHT)), 'road', M.PAINT, WHITE_PAINT)
