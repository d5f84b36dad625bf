"""Traffic: vehicles, cyclists and pedestrians on their paths, parked vehicles, and the traffic of the main
street and of crossing streets, laid out so that nobody drives into the ego vehicle's path."""
import numpy as np

from perception.sim import agents as A
from perception.sim.route import Route
from perception.sim.world.builder import WorldBuilder
from perception.sim.world.street import CrossSection

# kinds and shares of vehicles, and their spacing: real KITTI sweeps are ~4-7% car points (SqueezeSeg's labelled
# front quarter: 3.6-6.5%), trucks and buses rare
TRAFFIC = (('car', 'truck', 'bus', 'other-vehicle', 'motorcycle'), (0.8, 0.05, 0.03, 0.04, 0.08))
PARKED = (('car', 'other-vehicle', 'truck', 'motorcycle'), (0.9, 0.05, 0.02, 0.03))
PLATOON_GAP, ONCOMING_GAP, CYCLIST_GAP = (15.0, 70.0), (15.0, 80.0), (10.0, 70.0)  # metres between vehicles
PEDESTRIAN_STRIDE = (1.2, 1.6)       # metres per gait cycle
MOTORCYCLE_SEAT, BICYCLE_SEAT = (0.85, 0.45, 0.35), (0.9, 0.38, 0.3)  # rider's seat height, hands x, lean

# main street: the ego's lane has a faster platoon ahead and a slower one behind
AHEAD_SPEED_MARGIN, AHEAD_START = (0.5, 3), (15, 50)    # m/s above the ego's fastest; metres ahead of the ego
BEHIND_SPEED_MARGIN, BEHIND_MIN_SPEED = (0.5, 3), 2.0   # m/s below the ego's slowest
BEHIND_CLEARANCE, BEHIND_SPREAD, BEHIND_TAIL = 14, (0, 20), 12  # metres between the ego and the last one behind
LANE_SPEED, LANE_START = (5, 16), (0, 30)               # other lanes, both directions
CYCLIST_SPEED, CYCLIST_START = (3, 6.5), (0, 40)
PARKING_PITCH, PARKING_MARGIN, PARKING_OCCUPANCY = 6.5, 3, 0.35
PEDESTRIAN_SPACING, STANDING_PROBABILITY, WALKING_SPEED = 18, 0.2, (0.8, 1.6)  # metres of sidewalk each
PEDESTRIAN_KERB_OFFSET, PEDESTRIAN_OUTER_MARGIN = 0.6, 0.4   # range across the sidewalk

# crossing streets: queues at the stop lines, platoons leaving on the far side, pedestrians waiting
STOP_LINE_BEYOND_SIDEWALK = 2.0
QUEUE_LENGTH, QUEUE_GAP = (0, 3), (1.5, 4)              # vehicles (end excluded); metres between them
CROSSING_SPEED, CROSSING_EXIT_SPREAD = (6, 14), (0, 30)
WAITING_OFFSET, WAITING_PROBABILITY = 2.5, 0.5          # metres outside the junction, per sidewalk corner
WAITING_KERB_OFFSET, WAITING_OUTER_MARGIN, WAITING_SPREAD = 0.5, 0.3, 0.5


def vehicle(builder: WorldBuilder, kind: str, path: A.Path) -> A.Agent:
    """A vehicle of `kind` on `path`; motorcycles and cyclists come with their rider."""
    rng = builder.rng
    if kind in A.VEHICLES:
        instance = builder.instance()
        return A.Agent(kind, path, A.VEHICLES[kind](rng, instance), instances=(instance,))
    ride, rider = builder.instance(), builder.instance()
    if kind == 'motorcycle':
        body, seat = A.motorcycle(rng, ride), MOTORCYCLE_SEAT
    else:
        body, seat = A.bicycle(rng, ride), BICYCLE_SEAT
    return A.Agent(kind, path, body, A.person(rng, rider, builder.ids['rider']), seat, instances=(ride, rider))


def parked(builder: WorldBuilder, route: Route, s: float, d: float, kind: str, yaw: float = 0.0, height: float = 0.0):
    """A standing vehicle (or a riderless bicycle) at street position (s, d), turned by `yaw`, on a surface at
    `height`."""
    x, y, heading = route.pose(s, d)
    path = A.LinePath((float(x), float(y)), float(heading) + yaw, 0.0, height=height)
    if kind == 'bicycle':
        instance = builder.instance()
        builder.agents.append(A.Agent('bicycle', path, A.bicycle(builder.rng, instance), instances=(instance,)))
    else:
        builder.agents.append(vehicle(builder, kind, path))


def pedestrian(builder: WorldBuilder, path: A.Path):
    instance = builder.instance()
    builder.agents.append(A.Agent('pedestrian', path, person=A.person(builder.rng, instance), instances=(instance,),
                                  stride=builder.rng.uniform(*PEDESTRIAN_STRIDE)))


def platoon(builder: WorldBuilder, route: Route, section: CrossSection, d: float, speed: float, first: float,
            last: float, kinds, probabilities, gap=PLATOON_GAP):
    """Vehicles at one speed in one lane from street position `first` to `last` (reversed for speed < 0)."""
    s = first
    height = float(section.surface(d))
    while s < last:
        kind = str(builder.rng.choice(kinds, p=probabilities))
        half = A.LENGTH_MARGIN[kind] / 2
        builder.agents.append(vehicle(builder, kind, A.RoutePath(route, s + half, speed, d, reverse=speed < 0,
                                                                 height=height)))
        s += 2 * half + builder.rng.uniform(*gap)


def main_traffic(builder: WorldBuilder, route: Route, section: CrossSection, ego_start: float, ego_speed: tuple,
                 spans: list):
    """Platoons in every lane, cyclists in the bike lane, parked vehicles and pedestrians on the sidewalks."""
    rng = builder.rng
    v_min, v_max = ego_speed[0] - ego_speed[1], ego_speed[0] + ego_speed[1]
    start, end = route.s[0], route.s[-1]
    ego_lane = section.lanes - 1
    for lane in range(section.lanes):
        d = section.lane_centre(lane, -1)
        if lane == ego_lane:
            platoon(builder, route, section, d, v_max + rng.uniform(*AHEAD_SPEED_MARGIN),
                    ego_start + rng.uniform(*AHEAD_START), end, *TRAFFIC)
            slow = max(BEHIND_MIN_SPEED, v_min - rng.uniform(*BEHIND_SPEED_MARGIN))
            platoon(builder, route, section, d, slow, start,
                    ego_start - BEHIND_CLEARANCE - rng.uniform(*BEHIND_SPREAD) - BEHIND_TAIL, *TRAFFIC)
        else:
            platoon(builder, route, section, d, rng.uniform(*LANE_SPEED), start + rng.uniform(*LANE_START), end,
                    *TRAFFIC)
        platoon(builder, route, section, section.lane_centre(lane, 1), -rng.uniform(*LANE_SPEED),
                start + rng.uniform(*LANE_START), end, *TRAFFIC, gap=ONCOMING_GAP)
    if section.bike_lane:
        d = -(section.lanes * section.lane_width + section.bike_lane / 2)
        platoon(builder, route, section, d, rng.uniform(*CYCLIST_SPEED), start + rng.uniform(*CYCLIST_START), end,
                ('cyclist',), (1.0,), gap=CYCLIST_GAP)
    for side, width in ((-1, section.parking_right), (1, section.parking_left)):
        if width:
            d = section.edge(side) - side * width / 2
            for a, b in spans:
                for s in np.arange(a + PARKING_MARGIN, b - PARKING_MARGIN, PARKING_PITCH):
                    if rng.random() < PARKING_OCCUPANCY:
                        parked(builder, route, s, d, str(rng.choice(PARKED[0], p=PARKED[1])),
                               yaw=0.0 if side < 0 else np.pi, height=float(section.surface(d)))
    for side in (-1, 1):
        edge = section.edge(side)
        for a, b in spans:
            for s in rng.uniform(a, b, rng.poisson((b - a) / PEDESTRIAN_SPACING)):
                d = edge + side * rng.uniform(PEDESTRIAN_KERB_OFFSET, section.sidewalk - PEDESTRIAN_OUTER_MARGIN)
                walking = rng.random() >= STANDING_PROBABILITY
                speed = rng.uniform(*WALKING_SPEED) * rng.choice([-1, 1]) if walking else 0.0
                pedestrian(builder, A.RoutePath(route, float(s), speed, float(d), reverse=speed < 0,
                                                height=section.kerb))


def cross_traffic(builder: WorldBuilder, main: Route, main_section: CrossSection, crossing: Route,
                  section: CrossSection, g0: float, g1: float):
    """Traffic on a crossing street never enters the junction while the ego may be in it: per lane, a queue
    waits at the stop line on the approach and a platoon that already crossed drives away on the far side.
    Pedestrians wait at the main street's crosswalks (g0, g1: the junction's extent along the main street)."""
    rng = builder.rng
    near = main_section.right_edge - main_section.sidewalk - STOP_LINE_BEYOND_SIDEWALK  # crossing coordinates
    far = main_section.left_edge + main_section.sidewalk + STOP_LINE_BEYOND_SIDEWALK
    for lane in range(section.lanes):
        for direction in (1, -1):
            d = section.lane_centre(lane, -direction)  # traffic keeps right
            stop, exit_ = (near, far) if direction > 0 else (far, near)
            s = stop
            for _ in range(rng.integers(*QUEUE_LENGTH)):
                kind = str(rng.choice(TRAFFIC[0], p=TRAFFIC[1]))
                half = A.LENGTH_MARGIN[kind] / 2
                builder.agents.append(vehicle(builder, kind, A.RoutePath(crossing, s - direction * half, 0.0, d,
                                                                         reverse=direction < 0,
                                                                         height=float(section.surface(d)))))
                s -= direction * (2 * half + rng.uniform(*QUEUE_GAP))
            speed = rng.uniform(*CROSSING_SPEED)
            if direction > 0:
                platoon(builder, crossing, section, d, speed, exit_ + rng.uniform(*CROSSING_EXIT_SPREAD),
                        crossing.s[-1], *TRAFFIC)
            else:
                platoon(builder, crossing, section, d, -speed, crossing.s[0],
                        exit_ - rng.uniform(*CROSSING_EXIT_SPREAD), *TRAFFIC)
    for s in (g0 - WAITING_OFFSET, g1 + WAITING_OFFSET):
        for side in (-1, 1):
            if rng.random() < WAITING_PROBABILITY:
                d = main_section.edge(side) + side * rng.uniform(WAITING_KERB_OFFSET,
                                                                 main_section.sidewalk - WAITING_OUTER_MARGIN)
                pedestrian(builder, A.RoutePath(main, s + rng.normal(0, WAITING_SPREAD), 0.0, d,
                                                reverse=rng.random() < 0.5, height=main_section.kerb))
