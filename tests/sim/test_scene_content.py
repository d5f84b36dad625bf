"""Scene content closer to real streets: class frequencies near KITTI's (few car points per sweep, trucks and
buses rare), kerb stones and grass verges, ground clutter, lumpy tree crowns."""
from dataclasses import replace

import numpy as np

from perception.sim.materials import M
from perception.sim.simulator import DriveSimulator, SensorRig
from perception.sim.world import build_world
from perception.sim.world.furniture import lumpy
from perception.taxonomy import load_taxonomy


def test_car_points_are_a_small_share_of_a_sweep():
    """Real KITTI sweeps are ~4-7% car points (SqueezeSeg's labelled frames 3.6-6.5%)."""
    ids = load_taxonomy().id_of
    rig = SensorRig.from_config(width=64, height=32)
    rig = replace(rig, lidar=replace(rig.lidar, azimuth_steps=400))  # shares do not need KITTI's density
    car, large = [], []
    for seed in range(1000, 1010):
        sim = DriveSimulator(seed, 41, rig)
        for index in (0, 40):
            semantic = sim.frame(index).point_semantic
            car.append((semantic == ids('car')).mean())
            large.append(np.isin(semantic, [ids('truck'), ids('bus'), ids('other-vehicle')]).mean())
    assert 0.03 < np.mean(car) < 0.08  # a single sweep may have more: a parked car beside the ego takes ~8%
    assert np.mean(large) < 0.03


def test_streets_have_kerb_stones_verges_and_clutter():
    ids = load_taxonomy().id_of
    verges, covers = 0, 0
    for seed in range(1000, 1008):
        static = build_world(seed, 2.0).static
        sidewalk = static.semantic == ids('sidewalk')
        assert (static.material[sidewalk] == M.CONCRETE).any()  # the kerb stones
        grass = (static.semantic == ids('terrain')) & (static.material == M.GRASS)
        verges += bool((static.vertices[static.triangles[grass]][:, :, 2] > 0.05).any())  # on the sidewalk
        covers += int(((static.semantic == ids('road')) & (static.material == M.METAL)).sum() > 0)
    assert 0 < verges < 8 and covers == 8


def test_crowns_are_lumpy_not_ellipsoids():
    centre = np.array([0.0, 0.0, 5.0])
    vertices, _ = lumpy((2.0, 2.0, 2.0), centre, np.random.default_rng(0))
    radius = np.linalg.norm(vertices - centre, axis=1)
    assert radius.std() > 0.1 and radius.min() > 1.0 and radius.max() < 3.5


def test_carriageways_are_crowned_and_road_users_stand_on_the_surface():
    """Streets fall from a crown to both kerbs; vehicles stand on the lane they drive in, pedestrians on the
    sidewalk (not sunk into it), and the ego is rolled by its lane's cross slope: in its own frame the lane
    around it is level."""
    ids = load_taxonomy().id_of
    rig = SensorRig.from_config(width=64, height=32)
    for seed in (1000, 1001, 1002):
        sim = DriveSimulator(seed, 1, rig)
        world, section = sim.world, sim.world.section
        assert 0.005 < section.crown < section.kerb
        road = world.static.vertices[world.static.triangles[(world.static.semantic == ids('road'))
                                                            & (world.static.material == M.ASPHALT)]][..., 2]
        assert road.min() > -1e-6 and section.crown - 1e-6 < road.max() < 0.18  # crossings have their own crowns
        for agent in world.agents:
            d = getattr(agent.path, 'd', None)
            if d is None or agent.path.route is not world.route:
                continue
            lowest, surface = agent.mesh_at(0.0).vertices[:, 2].min(), float(section.surface(d))
            if agent.kind == 'pedestrian':  # a walker may have a foot up
                assert surface - 0.01 < lowest < surface + 0.1, (d, lowest, surface)
            else:
                assert abs(lowest - surface) < 0.02, (agent.kind, d, lowest, surface)
        frame = sim.frame(0)
        xyz = np.stack([frame.points[a] for a in 'xyz'], 1).astype(float)
        base = xyz @ sim.rig.base_T_lidar[:3, :3].T + sim.rig.base_T_lidar[:3, 3]
        lane = (frame.point_semantic == ids('road')) & (np.abs(base[:, 1]) < 1.2) & (np.abs(base[:, 0]) < 12)
        assert lane.sum() > 500 and np.abs(np.median(base[lane, 2])) < 0.01
