"""One drive's world: a random route with its cross-section, intersections with crossing streets on straight
stretches, signalised mid-block crosswalks, frontage, furniture, traffic, the ego vehicle's lane and speed
profile, and the sun's direction (the sky and light: perception.sim.sensors.CameraLook). Everything follows from
one seed."""
from dataclasses import dataclass

import numpy as np

from perception.sim.meshes import Mesh, concat
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder, spans_without
from perception.sim.world.furniture import furniture, traffic_light
from perception.sim.world.street import CrossSection, crosswalk, ground, street
from perception.sim.world.traffic import cross_traffic, main_traffic
from perception.sim.world.zones import frontage

# the ego vehicle: mean speed, a sinusoidal variation within [MIN_EGO_SPEED, MAX_EGO_SPEED], its period and phase
EGO_MEAN_SPEED, MIN_EGO_SPEED, MAX_EGO_SPEED, MAX_EGO_SPEED_SWING = (6.5, 13.5), 5, 15, 1.5   # m/s
EGO_SPEED_PERIOD = (6, 15)                       # seconds
ROUTE_BEHIND, ROUTE_AHEAD = 90.0, 170.0          # metres of street before the start and beyond the last position

# intersections: crossing streets on straight stretches, away from their ends and from each other
JUNCTION_CLEAR_OF_BENDS, FIRST_JUNCTION, JUNCTION_SPACING, MIN_JUNCTION_DISTANCE = 25, (15, 60), (90, 160), 80
CROSSING_HALF_LENGTH = 80.0                      # a crossing street reaches this far either side of the route
MARKING_GAP_MARGIN, ZONE_GAP_MARGIN = 4.5, 1.5   # no markings / frontage this close to a crossing street
CROSSWALK_NEAR, CROSSWALK_FAR = 1.0, 4.0         # crosswalks span this range outside the junction
JUNCTION_SIGNAL_OFFSET, INNER_MARGIN = 1.5, 1    # signals outside the junction; crossing frontage off the sidewalks
SIGNAL_KERB_OFFSET, MAST_PROBABILITY = 0.8, 0.5  # signal poles outside the kerb; a mast arm over the ego's lanes
GROUND_MARGIN = 250                              # metres of terrain around the route

# mid-block crossings on long spans
MIDBLOCK_MIN_SPAN, MIDBLOCK_PROBABILITY, MIDBLOCK_END_MARGIN = 60, 0.6, 20
MIDBLOCK_CROSSWALK_HALF_WIDTH, MIDBLOCK_SIGNAL_OFFSET = 1.5, 3

SUN_ELEVATION_DEG = (20, 65)


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

    def ego_distance(self, t: float) -> float:
        mean, amplitude, period, phase = self.ego_speed
        w = 2 * np.pi / period
        return self.ego_start + mean * t - amplitude / w * (np.cos(w * t + phase) - np.cos(phase))


def build_world(seed: int, duration: float) -> World:
    """The street world for one drive of `duration` seconds."""
    rng = np.random.default_rng(seed)
    profile_rng = np.random.default_rng([seed, 2])  # street profiles (crowns): their own stream
    speed_mean = rng.uniform(*EGO_MEAN_SPEED)
    ego_speed = (speed_mean, rng.uniform(0, min(MAX_EGO_SPEED_SWING, speed_mean - MIN_EGO_SPEED,
                                                MAX_EGO_SPEED - speed_mean)),
                 rng.uniform(*EGO_SPEED_PERIOD), rng.uniform(0, 2 * np.pi))
    behind = ROUTE_BEHIND
    route = Route.random(rng, behind + MAX_EGO_SPEED * duration + ROUTE_AHEAD)
    section = CrossSection.random(rng, profile_rng)
    builder = WorldBuilder(rng)
    ego_lane = section.lane_centre(section.lanes - 1, -1)

    # intersections on straight stretches, the first one soon after the start when possible
    crossings = []
    for a, b in route.straight:
        for s in np.arange(max(a + JUNCTION_CLEAR_OF_BENDS, behind + rng.uniform(*FIRST_JUNCTION)),
                           b - JUNCTION_CLEAR_OF_BENDS, rng.uniform(*JUNCTION_SPACING)):
            if not crossings or s - crossings[-1] > MIN_JUNCTION_DISTANCE:
                crossings.append(float(s))
    cross_sections = [CrossSection.random(rng, profile_rng) for _ in crossings]
    gaps = [(s - c.half_width - c.sidewalk, s + c.half_width + c.sidewalk) for s, c in zip(crossings, cross_sections)]
    marking_gaps = [(a - MARKING_GAP_MARGIN, b + MARKING_GAP_MARGIN) for a, b in gaps]
    zone_gaps = [(a - ZONE_GAP_MARGIN, b + ZONE_GAP_MARGIN) for a, b in gaps]

    lo, hi = route.xy.min(0) - GROUND_MARGIN, route.xy.max(0) + GROUND_MARGIN
    ground(builder, lo, hi)
    street(builder, route, section, route.s[0], route.s[-1], gaps, marking_gaps)
    spans = spans_without(route.s[0], route.s[-1], zone_gaps)
    frontage(builder, route, section, spans)
    furniture(builder, route, section, spans)
    mast = section.lanes * section.lane_width
    for a, b in spans:  # signalised mid-block pedestrian crossings
        if b - a > MIDBLOCK_MIN_SPAN and rng.random() < MIDBLOCK_PROBABILITY:
            s = rng.uniform(a + MIDBLOCK_END_MARGIN, b - MIDBLOCK_END_MARGIN)
            crosswalk(builder, route, section, s - MIDBLOCK_CROSSWALK_HALF_WIDTH, s + MIDBLOCK_CROSSWALK_HALF_WIDTH)
            traffic_light(builder, route, s - MIDBLOCK_SIGNAL_OFFSET, section.right_edge - SIGNAL_KERB_OFFSET, np.pi,
                          mast=mast if rng.random() < MAST_PROBABILITY else 0.0)
            traffic_light(builder, route, s + MIDBLOCK_SIGNAL_OFFSET, section.left_edge + SIGNAL_KERB_OFFSET, 0.0)

    for s_i, cross, (g0, g1) in zip(crossings, cross_sections, gaps):
        x, y, heading = route.pose(s_i, 0.0)
        crossing = Route.straight_line((float(x), float(y)), float(heading) + np.pi / 2, -CROSSING_HALF_LENGTH,
                                       CROSSING_HALF_LENGTH)
        inner = (section.right_edge - section.sidewalk, section.left_edge + section.sidewalk)
        street(builder, crossing, cross, -CROSSING_HALF_LENGTH, CROSSING_HALF_LENGTH,
               [(section.right_edge, section.left_edge)], [(inner[0] - INNER_MARGIN, inner[1] + INNER_MARGIN)])
        cross_spans = [(-CROSSING_HALF_LENGTH, inner[0] - INNER_MARGIN),
                       (inner[1] + INNER_MARGIN, CROSSING_HALF_LENGTH)]
        frontage(builder, crossing, cross, cross_spans)
        crosswalk(builder, route, section, g0 - CROSSWALK_FAR, g0 - CROSSWALK_NEAR)
        crosswalk(builder, route, section, g1 + CROSSWALK_NEAR, g1 + CROSSWALK_FAR)
        # signals facing the ego's approach (right side, near and far), the oncoming approach and the crossing
        traffic_light(builder, route, g0 - JUNCTION_SIGNAL_OFFSET, section.right_edge - SIGNAL_KERB_OFFSET, np.pi,
                      mast=mast if rng.random() < MAST_PROBABILITY else 0.0)
        traffic_light(builder, route, g1 + JUNCTION_SIGNAL_OFFSET, section.right_edge - SIGNAL_KERB_OFFSET, np.pi)
        traffic_light(builder, route, g1 + JUNCTION_SIGNAL_OFFSET, section.left_edge + SIGNAL_KERB_OFFSET, 0.0)
        traffic_light(builder, crossing, inner[0] - SIGNAL_KERB_OFFSET, cross.edge(-1) - SIGNAL_KERB_OFFSET, np.pi)
        traffic_light(builder, crossing, inner[1] + SIGNAL_KERB_OFFSET, cross.edge(1) + SIGNAL_KERB_OFFSET, 0.0)
        cross_traffic(builder, route, section, crossing, cross, g0, g1)

    main_traffic(builder, route, section, behind, ego_speed, spans)
    sun_azimuth, sun_elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(*SUN_ELEVATION_DEG))
    sun = np.array([np.cos(sun_elevation) * np.cos(sun_azimuth), np.cos(sun_elevation) * np.sin(sun_azimuth),
                    np.sin(sun_elevation)])
    return World(route=route, section=section, static=concat(builder.parts), agents=builder.agents, ego_lane=ego_lane,
                 ego_start=behind, ego_speed=ego_speed, sun=sun)
