"""Street furniture and plants: trees, bushes, street lights, traffic signs and traffic lights, and their layout
along the sidewalks (with parked bicycles)."""
import numpy as np

from perception.sim.materials import M
from perception.sim.meshes import box, cylinder, ellipsoid, oriented
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder
from perception.sim.world.palette import (BARK, FOLIAGE, SIGN_POLE_GREY, SIGNAL_HOUSING, SIGNAL_LAMPS,
                                          SIGNAL_POLE_GREY, SIGNS, STREET_LIGHT_GREY)
from perception.sim.world.street import CrossSection
from perception.sim.world.traffic import parked

# trees: a trunk and a tapering conifer crown or one to three rounded ones, all lumpy (random bulges)
TRUNK_HEIGHT, TRUNK_RADIUS, TRUNK_BOTTOM, TRUNK_TOP_EXTRA = (2.0, 4.5), (0.12, 0.3), -0.05, 0.5
CONIFER_PROBABILITY, CONIFER_RADIUS, CONIFER_HEIGHT, CONIFER_TAPER = 0.2, (1.2, 2.2), (4, 7), 0.8
CROWNS, CROWN_RADIUS, CROWN_SPREAD = (1, 4), (1.3, 3.0), 0.5   # count range (end excluded), radius, offset sigma
CROWN_RISE, CROWN_FLATTENING = (0.6, 0.9), (0.7, 1.0)          # centre above the trunk top and height, in radii
CROWN_RESOLUTION, BUSH_RESOLUTION = 10, 6                      # sphere subdivisions
BULGES, BULGE_HEIGHT, BULGE_WIDTH = 9, (-0.2, 0.3), 0.25       # per crown; radius shares; angular width (cosine)
BUSH_RADIUS, BUSH_ASPECT, BUSH_FLATTENING, BUSH_CENTRE_HEIGHT = (0.5, 1.4), (0.7, 1.3), 0.7, 0.2

# street lights: a pole and an arm over the road with a lamp box at its end
STREET_LIGHT_HEIGHT, STREET_LIGHT_POLE_RADIUS = (6, 9), 0.09
ARM_HALF_WIDTH, ARM_THICKNESS, ARM_LENGTH = 0.05, 0.1, 1.6
LAMP_HALF_WIDTH, LAMP_THICKNESS, LAMP_FROM, LAMP_TO = 0.2, 0.2, 1.3, 1.9
POLE_BOTTOM = -0.05  # poles start below the sidewalk surface

# traffic signs: a thin pole and a square, disc or triangle plate facing the traffic
SIGN_HEIGHT, SIGN_POLE_RADIUS, SIGN_POLE_EXTRA = (2.0, 2.6), 0.035, 0.3
SIGN_SIZE, SIGN_PLATE = (0.5, 0.8), (0.04, 0.07)   # plate size; square plates' front and back, metres ahead
SIGN_DISC_SIDES, SIGN_TRIANGLE_SIDES, SIGN_HALF_THICKNESS, SIGN_PLATE_OFFSET = 24, 3, 0.015, 0.055

# traffic lights: a pole (or a mast arm over the road) and a housing with three lamps, one lit
SIGNAL_HEIGHT, MAST_SIGNAL_HEIGHT, SIGNAL_POLE_RADIUS, SIGNAL_POLE_EXTRA = (3.2, 4.5), 5.5, 0.1, 0.2
MAST_HALF_WIDTH, MAST_THICKNESS, MAST_HEAD_INSET = 0.06, 0.12, 0.3
HOUSING_HALF_DEPTH, HOUSING_HALF_WIDTH, HOUSING_HEIGHT = 0.15, 0.17, 0.95
HOUSING_DROP, MAST_HOUSING_DROP = 0.95, 1.0      # housing bottom below the pole top
SIGNAL_LAMP_RADIUS, SIGNAL_LAMP_HALF_DEPTH, SIGNAL_LAMP_SIDES = 0.1, 0.01, 12
SIGNAL_LAMP_FRONT, TOP_LAMP_HEIGHT, LAMP_PITCH, UNLIT_BRIGHTNESS = 0.16, 0.77, 0.3, 0.25

# layout along each sidewalk: positions start a random distance into a span and repeat at a random spacing
STREET_LIGHT_START, STREET_LIGHT_SPACING, STREET_LIGHT_KERB_OFFSET = (2, 20), (25, 40), 0.5
SIGN_START, SIGN_SPACING, SIGN_KERB_OFFSET = (3, 20), (15, 35), 0.45
STREET_TREE_MIN_SIDEWALK, STREET_TREE_PROBABILITY = 2.8, 0.6
STREET_TREE_START, STREET_TREE_SPACING, STREET_TREE_ACROSS = (3, 8), (8, 14), 0.6  # across: share of the sidewalk
BIKE_RACK_START, BIKE_RACK_PITCH, BIKE_RACK_PROBABILITY = 10, 30.0, 0.2
BIKES_PER_RACK, BIKE_SPACING, BIKE_RACK_FROM_OUTER_EDGE = (1, 4), 0.8, 0.9
SPAN_END_MARGINS = (1, 2, 3)  # metres kept free before a span's end: lights and signs, street trees, bike racks


def lumpy(radii, centre, rng, resolution: int = CROWN_RESOLUTION, taper: float = 0.0):
    """An ellipsoid with random smooth bulges and dents (foliage), its top half narrowing by `taper`."""
    vertices, triangles = ellipsoid(radii, centre, resolution)
    unit = (vertices - centre) / np.asarray(radii, float)
    towards = rng.normal(size=(BULGES, 3))
    towards /= np.linalg.norm(towards, axis=1, keepdims=True)
    swell = np.exp((unit @ towards.T - 1) / BULGE_WIDTH) @ rng.uniform(*BULGE_HEIGHT, BULGES)
    narrowing = 1 - taper * np.clip(unit[:, 2], 0, 1)
    scale = np.stack([narrowing, narrowing, np.ones(len(unit))], 1) * (1 + swell)[:, None]
    return centre + (vertices - centre) * scale, triangles


def tree(builder: WorldBuilder, x, y, rng):
    height = rng.uniform(*TRUNK_HEIGHT)
    radius = rng.uniform(*TRUNK_RADIUS)
    builder.add(*cylinder(radius, TRUNK_BOTTOM, height + TRUNK_TOP_EXTRA, (x, y)), 'trunk', M.BARK, BARK)
    colour = FOLIAGE[rng.integers(len(FOLIAGE))]
    if rng.random() < CONIFER_PROBABILITY:
        r, tall = rng.uniform(*CONIFER_RADIUS), rng.uniform(*CONIFER_HEIGHT)
        builder.add(*lumpy((r, r, tall / 2), np.array([x, y, height + tall / 2]), rng, taper=CONIFER_TAPER),
                    'vegetation', M.FOLIAGE, colour)
    else:
        for _ in range(rng.integers(*CROWNS)):
            r = rng.uniform(*CROWN_RADIUS)
            centre = np.array([x + rng.normal(0, CROWN_SPREAD), y + rng.normal(0, CROWN_SPREAD),
                               height + r * rng.uniform(*CROWN_RISE)])
            builder.add(*lumpy((r, r, r * rng.uniform(*CROWN_FLATTENING)), centre, rng), 'vegetation', M.FOLIAGE,
                        colour)


def bush(builder: WorldBuilder, x, y, rng):
    r = rng.uniform(*BUSH_RADIUS)
    builder.add(*lumpy((r, r * rng.uniform(*BUSH_ASPECT), r * BUSH_FLATTENING), np.array([x, y, BUSH_CENTRE_HEIGHT]),
                       rng, BUSH_RESOLUTION), 'vegetation', M.FOLIAGE, FOLIAGE[rng.integers(len(FOLIAGE))])


def street_light(builder: WorldBuilder, route: Route, s, d, side):
    height = builder.rng.uniform(*STREET_LIGHT_HEIGHT)
    builder.add(*builder.place(route, s, d, cylinder(STREET_LIGHT_POLE_RADIUS, POLE_BOTTOM, height)), 'pole',
                M.METAL, STREET_LIGHT_GREY)
    builder.add(*builder.place(route, s, d, box((-ARM_HALF_WIDTH, 0, height - ARM_THICKNESS),
                                                (ARM_HALF_WIDTH, -side * ARM_LENGTH, height))),
                'pole', M.METAL, STREET_LIGHT_GREY)
    builder.add(*builder.place(route, s, d, box((-LAMP_HALF_WIDTH, -side * LAMP_FROM, height - LAMP_THICKNESS),
                                                (LAMP_HALF_WIDTH, -side * LAMP_TO, height))),
                'pole', M.METAL, STREET_LIGHT_GREY)


def sign(builder: WorldBuilder, route: Route, s, d, facing_yaw):
    height = builder.rng.uniform(*SIGN_HEIGHT)
    builder.add(*builder.place(route, s, d, cylinder(SIGN_POLE_RADIUS, POLE_BOTTOM, height + SIGN_POLE_EXTRA)),
                'pole', M.METAL, SIGN_POLE_GREY)
    shape = builder.rng.integers(3)
    size = builder.rng.uniform(*SIGN_SIZE)
    if shape == 0:
        vertices, triangles = box((SIGN_PLATE[0], -size / 2, 0), (SIGN_PLATE[1], size / 2, size))
    else:  # disc or triangle: a flat cylinder, standing up
        vertices, triangles = cylinder(size / 2, -SIGN_HALF_THICKNESS, SIGN_HALF_THICKNESS,
                                       resolution=SIGN_DISC_SIDES if shape == 1 else SIGN_TRIANGLE_SIDES)
        vertices = oriented(vertices, pitch=np.pi / 2, roll=np.pi / 2 if shape == 2 else 0,
                            translation=(SIGN_PLATE_OFFSET, 0, size / 2))
    vertices = oriented(vertices, yaw=facing_yaw, translation=(0, 0, height))
    builder.add(*builder.place(route, s, d, (vertices, triangles)), 'traffic-sign', M.SIGN,
                SIGNS[builder.rng.integers(len(SIGNS))])


def traffic_light(builder: WorldBuilder, route: Route, s, d, facing_yaw, mast: float = 0.0):
    """A pole with a signal head facing along facing_yaw (street frame); with a mast arm of length `mast`
    reaching towards -d the head hangs over the road."""
    height = builder.rng.uniform(*SIGNAL_HEIGHT) if not mast else MAST_SIGNAL_HEIGHT
    builder.add(*builder.place(route, s, d, cylinder(SIGNAL_POLE_RADIUS, POLE_BOTTOM, height + SIGNAL_POLE_EXTRA)),
                'pole', M.METAL, SIGNAL_POLE_GREY)
    head_d = 0.0
    if mast:
        side = -np.sign(d) if d else 1.0
        builder.add(*builder.place(route, s, d, box((-MAST_HALF_WIDTH, 0, height),
                                                    (MAST_HALF_WIDTH, side * mast, height + MAST_THICKNESS))),
                    'pole', M.METAL, SIGNAL_POLE_GREY)
        head_d = side * (mast - MAST_HEAD_INSET)
    bottom = height - MAST_HOUSING_DROP if mast else height - HOUSING_DROP
    housing = box((-HOUSING_HALF_DEPTH, -HOUSING_HALF_WIDTH, bottom),
                  (HOUSING_HALF_DEPTH, HOUSING_HALF_WIDTH, bottom + HOUSING_HEIGHT))
    lit = builder.rng.integers(3)
    parts = [(oriented(housing[0], yaw=facing_yaw, translation=(0, head_d, 0)), housing[1], M.METAL,
              SIGNAL_HOUSING)]
    for k, colour in enumerate(SIGNAL_LAMPS):
        lamp, triangles = cylinder(SIGNAL_LAMP_RADIUS, -SIGNAL_LAMP_HALF_DEPTH, SIGNAL_LAMP_HALF_DEPTH,
                                   resolution=SIGNAL_LAMP_SIDES)
        lamp = oriented(lamp, pitch=np.pi / 2,
                        translation=(SIGNAL_LAMP_FRONT, 0, bottom + TOP_LAMP_HEIGHT - k * LAMP_PITCH))
        brightness = 1.0 if k == lit else UNLIT_BRIGHTNESS
        parts.append((oriented(lamp, yaw=facing_yaw, translation=(0, head_d, 0)), triangles, M.LAMP,
                      np.array(colour) * brightness))
    for vertices, triangles, material, colour in parts:
        builder.add(*builder.place(route, s, d, (vertices, triangles)), 'traffic-light', material, colour)


def furniture(builder: WorldBuilder, route: Route, section: CrossSection, spans: list):
    """Street lights, signs, street trees and bicycle racks along both sidewalks of the spans."""
    rng = builder.rng
    lights_end, trees_end, racks_end = SPAN_END_MARGINS
    for side in (-1, 1):
        edge = section.edge(side)
        facing = np.pi if side < 0 else 0.0  # signs face the traffic approaching on their side
        for a, b in spans:
            for s in np.arange(a + rng.uniform(*STREET_LIGHT_START), b - lights_end,
                               rng.uniform(*STREET_LIGHT_SPACING)):
                street_light(builder, route, s, edge + side * STREET_LIGHT_KERB_OFFSET, side)
            for s in np.arange(a + rng.uniform(*SIGN_START), b - lights_end, rng.uniform(*SIGN_SPACING)):
                sign(builder, route, s, edge + side * SIGN_KERB_OFFSET, facing)
            if section.sidewalk > STREET_TREE_MIN_SIDEWALK and rng.random() < STREET_TREE_PROBABILITY:
                for s in np.arange(a + rng.uniform(*STREET_TREE_START), b - trees_end,
                                   rng.uniform(*STREET_TREE_SPACING)):
                    x, y, _ = route.pose(s, edge + side * section.sidewalk * STREET_TREE_ACROSS)
                    tree(builder, float(x), float(y), rng)
            for s in np.arange(a + BIKE_RACK_START, b - racks_end, BIKE_RACK_PITCH):
                if rng.random() < BIKE_RACK_PROBABILITY:
                    for k in range(rng.integers(*BIKES_PER_RACK)):
                        parked(builder, route, s + BIKE_SPACING * k,
                               edge + side * (section.sidewalk - BIKE_RACK_FROM_OUTER_EDGE), 'bicycle', yaw=np.pi / 2,
                               height=section.kerb)
