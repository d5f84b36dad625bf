"""Frontage: what lines a street behind its sidewalks, in zones of random length and kind: buildings, a parking
lot (with parked vehicles), a park, a walled plot or a fenced field."""
import numpy as np

from perception.sim.materials import M
from perception.sim.meshes import box
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder
from perception.sim.world.furniture import bush, tree
from perception.sim.world.palette import BRICK, FACADES, FENCES, FOLIAGE, LOW_WALL
from perception.sim.world.street import CrossSection
from perception.sim.world.traffic import parked

ZONES = ('buildings', 'parking_lot', 'park', 'walled', 'fenced')
ZONE_WEIGHTS = (0.4, 0.1, 0.2, 0.15, 0.15)
ZONE_LENGTH, MIN_ZONE_LENGTH = (25, 90), 5     # metres along the street; shorter leftovers stay empty

# buildings: a row of boxes set back from the sidewalk, narrower along curves
FACADE_PROBABILITY = 0.7                       # else brick
FIRST_BUILDING_OFFSET, BUILDING_WIDTH, CURVED_BUILDING_MAX_WIDTH = (0, 3), (8, 25), 14
LOW_BUILDING_PROBABILITY, LOW_HEIGHT, TALL_HEIGHT = 0.6, (4, 12), (12, 28)
BUILDING_SETBACK, MIN_BUILDING_DEPTH, MAX_BUILDING_DEPTH = (0.3, 3.0), 8, 20
ROW_GAP_PROBABILITY, NARROW_GAP, WIDE_GAP = 0.7, (0, 2), (4, 10)  # a narrow gap with this probability
CURVATURE_SAMPLES = 5                          # per zone, to tell a curved street
HEDGE_PROBABILITY, HEDGE_FROM, HEDGE_TO, HEDGE_HEIGHT = 0.3, 0.1, 0.9, (0.6, 1.5)

# parking lot: asphalt with two rows of perpendicular bays, maybe a fence, buildings behind
LOT_DEPTH, LOT_HEIGHT, LOT_BRIGHTENING = (14, 20), 0.02, 1.3
FRONT_ROW, BACK_ROW_INSET, BAY_PITCH, BAY_END_MARGIN = 4.5, 3.0, 2.7, 2
BAY_OCCUPANCY, CAR_SHARE = 0.35, 0.9           # else another vehicle
LOT_FENCE_PROBABILITY, LOT_FENCE_BEHIND, LOT_BUILDINGS_BEHIND, LOT_BUILDING_DEPTH = 0.5, 0.5, 2, 15

# park: trees and bushes, sometimes a low wall along the sidewalk
PARK_DEPTH, PARK_TREES_PER_M2, PARK_BUSHES_PER_M2 = 30, 1 / 60, 1 / 50
LOW_WALL_PROBABILITY, LOW_WALL_HEIGHT = 0.3, 0.6

# walled plot: a wall, maybe trees behind it, maybe buildings further back
WALLS = [(M.BRICK, (0.6, 0.33, 0.25)), (M.CONCRETE, (0.65, 0.64, 0.6)), (M.CONCRETE, (0.8, 0.78, 0.7))]
WALL_FROM, WALL_TO, WALL_HEIGHT = 0.2, 0.5, (1.0, 2.8)   # across: metres behind the sidewalk
WALLED_TREES_PROBABILITY, WALLED_TREES_FROM, WALLED_TREES_DEPTH, WALLED_TREES_PER_M2 = 0.5, 1.5, 8, 1 / 30
WALLED_BUILDINGS_PROBABILITY, WALLED_BUILDINGS_BEHIND = 0.7, 4

# fenced field
FIELD_FENCE_BEHIND, FIELD_DEPTH, FIELD_TREES_PER_M2, FIELD_BUSHES_PER_M2 = 0.3, 25, 1 / 90, 1 / 60

FENCE_HEIGHT, FENCE_HALF_THICKNESS, FENCE_BOTTOM = (1.2, 2.0), 0.02, 0.05
FENCE_POST_PITCH, FENCE_POST_HALF_WIDTH, FENCE_POST_BOTTOM, FENCE_POST_EXTRA = 2.5, 0.05, -0.05, 0.1
PLANT_MIN_SETBACK = 1.5                        # scattered plants keep this far behind the sidewalk
SLAB_BOTTOM = -0.05                            # walls, hedges and lots start below the sidewalk surface


def building(builder: WorldBuilder, route: Route, s: float, d_front: float, side: int, width: float, depth: float,
             height: float):
    """A box of `width` along the street at s, its front at d_front, moved back where a curve would make its
    corners overhang the sidewalk (the sagitta of the chord)."""
    rng = builder.rng
    material = M.FACADE if rng.random() < FACADE_PROBABILITY else M.BRICK
    colour = FACADES[rng.integers(len(FACADES))] if material == M.FACADE else BRICK
    setback = width * width * abs(route.curvature(s)) / 8
    vertices, triangles = box((-width / 2, 0, 0), (width / 2, depth, height))
    builder.add(*builder.place(route, s, d_front + side * setback, (vertices * [1, side, 1], triangles)), 'building',
                material, colour)


def buildings(builder: WorldBuilder, route: Route, s0: float, s1: float, d_front: float, side: int,
              max_depth: float = MAX_BUILDING_DEPTH):
    rng = builder.rng
    s = s0 + rng.uniform(*FIRST_BUILDING_OFFSET)
    curved = max(abs(route.curvature(x)) for x in np.linspace(s0, s1, CURVATURE_SAMPLES)) > 0
    while True:
        width = rng.uniform(BUILDING_WIDTH[0], CURVED_BUILDING_MAX_WIDTH if curved else BUILDING_WIDTH[1])
        if s + width > s1:
            break
        height = rng.uniform(*LOW_HEIGHT) if rng.random() < LOW_BUILDING_PROBABILITY else rng.uniform(*TALL_HEIGHT)
        building(builder, route, s + width / 2, d_front + side * rng.uniform(*BUILDING_SETBACK), side, width,
                 rng.uniform(MIN_BUILDING_DEPTH, max_depth), height)
        s += width + (rng.uniform(*NARROW_GAP) if rng.random() < ROW_GAP_PROBABILITY else rng.uniform(*WIDE_GAP))


def scatter(builder: WorldBuilder, route: Route, s0, s1, d_front, side, depth, per_m2, plant):
    """Plants (tree or bush) at random over the zone, `per_m2` on average."""
    count = builder.rng.poisson(per_m2 * (s1 - s0) * depth)
    s = builder.rng.uniform(s0, s1, count)
    d = d_front + side * builder.rng.uniform(PLANT_MIN_SETBACK, depth, count)
    x, y, _ = route.pose(s, d)
    for xi, yi in zip(x, y):
        plant(builder, xi, yi, builder.rng)


def fence(builder: WorldBuilder, route: Route, s0, s1, d, height):
    colour = FENCES[builder.rng.integers(len(FENCES))]
    builder.slab(route, s0, s1, d - FENCE_HALF_THICKNESS, d + FENCE_HALF_THICKNESS, FENCE_BOTTOM, height, 'fence',
                 M.SLATS, colour)
    for s in np.arange(s0, s1, FENCE_POST_PITCH):
        builder.add(*builder.place(route, s, d, box((-FENCE_POST_HALF_WIDTH, -FENCE_POST_HALF_WIDTH, FENCE_POST_BOTTOM),
                                                    (FENCE_POST_HALF_WIDTH, FENCE_POST_HALF_WIDTH,
                                                     height + FENCE_POST_EXTRA))),
                    'fence', M.METAL, colour)


def zone(builder: WorldBuilder, route: Route, kind: str, s0: float, s1: float, d_front: float, side: int):
    """One zone of `kind` (ZONES) from s0 to s1, its front at d_front on `side`."""
    rng = builder.rng
    if kind == 'buildings':
        buildings(builder, route, s0, s1, d_front, side)
        if rng.random() < HEDGE_PROBABILITY:
            builder.slab(route, s0, s1, d_front + side * HEDGE_FROM, d_front + side * HEDGE_TO, SLAB_BOTTOM,
                         rng.uniform(*HEDGE_HEIGHT), 'vegetation', M.FOLIAGE, FOLIAGE[rng.integers(len(FOLIAGE))])
    elif kind == 'parking_lot':
        lot = rng.uniform(*LOT_DEPTH)
        builder.slab(route, s0, s1, d_front, d_front + side * lot, SLAB_BOTTOM, LOT_HEIGHT, 'parking', M.ASPHALT,
                     builder.asphalt * LOT_BRIGHTENING)
        for row in (FRONT_ROW, lot - BACK_ROW_INSET):
            for s in np.arange(s0 + BAY_END_MARGIN, s1 - BAY_END_MARGIN, BAY_PITCH):
                if rng.random() < BAY_OCCUPANCY:
                    kind_ = 'car' if rng.random() < CAR_SHARE else 'other-vehicle'
                    parked(builder, route, s, d_front + side * row, kind_, yaw=np.pi / 2 * rng.choice([-1, 1]),
                           height=LOT_HEIGHT)
        if rng.random() < LOT_FENCE_PROBABILITY:
            fence(builder, route, s0, s1, d_front + side * (lot + LOT_FENCE_BEHIND), rng.uniform(*FENCE_HEIGHT))
        buildings(builder, route, s0, s1, d_front + side * (lot + LOT_BUILDINGS_BEHIND), side, LOT_BUILDING_DEPTH)
    elif kind == 'park':
        scatter(builder, route, s0, s1, d_front, side, PARK_DEPTH, PARK_TREES_PER_M2, tree)
        scatter(builder, route, s0, s1, d_front, side, PARK_DEPTH, PARK_BUSHES_PER_M2, bush)
        if rng.random() < LOW_WALL_PROBABILITY:
            builder.slab(route, s0, s1, d_front + side * WALL_FROM, d_front + side * WALL_TO, SLAB_BOTTOM,
                         LOW_WALL_HEIGHT, 'wall', M.CONCRETE, LOW_WALL)
    elif kind == 'walled':
        material, colour = WALLS[rng.integers(len(WALLS))]
        builder.slab(route, s0, s1, d_front + side * WALL_FROM, d_front + side * WALL_TO, SLAB_BOTTOM,
                     rng.uniform(*WALL_HEIGHT), 'wall', material, colour)
        if rng.random() < WALLED_TREES_PROBABILITY:
            scatter(builder, route, s0, s1, d_front + side * WALLED_TREES_FROM, side, WALLED_TREES_DEPTH,
                    WALLED_TREES_PER_M2, tree)
        if rng.random() < WALLED_BUILDINGS_PROBABILITY:
            buildings(builder, route, s0, s1, d_front + side * WALLED_BUILDINGS_BEHIND, side)
    else:  # fenced field
        fence(builder, route, s0, s1, d_front + side * FIELD_FENCE_BEHIND, rng.uniform(*FENCE_HEIGHT))
        scatter(builder, route, s0, s1, d_front, side, FIELD_DEPTH, FIELD_TREES_PER_M2, tree)
        scatter(builder, route, s0, s1, d_front, side, FIELD_DEPTH, FIELD_BUSHES_PER_M2, bush)


def frontage(builder: WorldBuilder, route: Route, section: CrossSection, spans: list):
    """Zones behind both sidewalks along the spans."""
    for side in (-1, 1):
        d_front = section.edge(side) + side * section.sidewalk
        for a, b in spans:
            s = a
            while s < b - MIN_ZONE_LENGTH:
                end = min(b, s + builder.rng.uniform(*ZONE_LENGTH))
                zone(builder, route, builder.rng.choice(ZONES, p=ZONE_WEIGHTS), s, end, d_front, side)
                s = end
