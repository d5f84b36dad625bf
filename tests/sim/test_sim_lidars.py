"""LiDAR models as data: every sensor in config/lidars.yaml loads and sweeps its stated beams, field of view and
firings; the reflectance model lands on its configured statistics on a tiny scene; per-drive mounting and
randomisation are seeded; the recording names its sensor."""
from dataclasses import replace

import numpy as np
import pytest
import yaml

from perception.io.bag import BagReader
from perception.io import topics as T
from perception.msgs.codec import pointcloud2_to_array
from perception.sim.cli import main as sim_main
from perception.sim.lidar import load_lidars, scan_lidar
from perception.sim.materials import M
from perception.sim.meshes import box, concat, strip, tagged
from perception.sim.sensors import Raycaster
from perception.sim.simulator import DriveSimulator, SensorRig

SENSORS = sorted(load_lidars().sensors)
ROAD, CAR, BUILDING, TERRAIN = 0, 15, 3, 11


def _sweep(static, lidar: str, seed: int = 0, height: float = 1.73, randomise: bool = False, unit=None):
    rig = SensorRig.from_config(lidar=lidar, randomise=randomise)
    if unit is not None:  # a physical unit of the model, with its calibration errors
        rig = replace(rig, lidar=rig.lidar.unit(np.random.default_rng(unit)))
    response = rig.reflectance.for_drive(np.random.default_rng(seed), randomise)
    world_T_lidar = np.eye(4)
    world_T_lidar[2, 3] = height
    points, semantic, _ = scan_lidar(Raycaster(static), rig.lidar, response, world_T_lidar,
                                     np.random.default_rng(seed + 1), texture_seed=seed)
    return rig.lidar, points, semantic


def _room(half: float = 20.0):
    """A closed box around the sensor: every beam returns (a facade, 20 m away)."""
    return tagged(*box((-half, -half, -0.5), (half, half, 30.0)), BUILDING, 0, M.FACADE, (0.7, 0.7, 0.7))


@pytest.mark.parametrize('name', SENSORS)
def test_sensor_sweeps_its_beams_field_of_view_and_firings(name):
    spec, points, _ = _sweep(_room(), name)
    xyz = np.stack([points[a] for a in 'xyz'], 1)
    elevation = np.degrees(np.arcsin(xyz[:, 2] / np.linalg.norm(xyz, axis=1)))
    assert elevation.max() == pytest.approx(spec.elevations_deg[0], abs=0.15)
    assert elevation.min() == pytest.approx(spec.elevations_deg[-1], abs=0.15)
    assert set(np.unique(points['ring'])) == set(range(spec.beams))
    rays = spec.beams * spec.azimuth_steps
    assert len(points) == pytest.approx(rays * (1 - spec.dropout), rel=0.01)  # a closed room: all beams return
    azimuth = np.unique(np.round(np.degrees(np.arctan2(xyz[:, 1], xyz[:, 0])) * spec.azimuth_steps / 360))
    assert len(azimuth) == spec.azimuth_steps


def test_kitti_preset_has_kittis_geometry():
    spec = load_lidars().get()
    assert spec.name == 'hdl64e_kitti' and spec.beams == 64
    assert 1900 <= spec.azimuth_steps <= 2100 and spec.mount_height == pytest.approx(1.73)
    assert spec.elevations_deg[0] == pytest.approx(2.0) and spec.elevations_deg[-1] == pytest.approx(-24.33)
    frame = DriveSimulator(3001, 1).frame(0)  # a street sweep: KITTI's ~120k points
    assert 105_000 <= len(frame.points) <= 135_000


def test_vlp32c_table_is_dense_near_the_horizon():
    spec = load_lidars().get('vlp32c')
    gaps = -np.diff(spec.elevations_deg)
    assert spec.beams == 32 and gaps.min() == pytest.approx(1 / 3, abs=0.01) and gaps.max() > 9


def test_unknown_lidar_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as exit_info:
        sim_main(['--seed', '1', '--out', 'x', '--lidar', 'hdl128'])
    assert exit_info.value.code == 2 and 'invalid choice' in capsys.readouterr().err


def _street():
    """An asphalt road plane, a car-paint box 8 m ahead and a facade 15 m to the left."""
    road = tagged(*strip(np.array([[-60.0, -60, 0], [60, -60, 0]]), np.array([[-60.0, 60, 0], [60, 60, 0]])),
                  ROAD, 0, M.ASPHALT, (0.3, 0.3, 0.3))
    car = tagged(*box((7.0, -1.0, 0.3), (11.5, 1.0, 1.5)), CAR, 7, M.CAR_PAINT, (0.6, 0.1, 0.1))
    wall = tagged(*box((-30.0, 15.0, 0.0), (30.0, 16.0, 12.0)), BUILDING, 0, M.FACADE, (0.7, 0.7, 0.7))
    return concat([road, car, wall])


def test_reflectance_lands_on_its_configured_statistics():
    """KITTI preset on a tiny street: near road and the facade at their configured medians, the car's share of
    zero returns as configured (cars return less than asphalt), road beyond 30 m mostly zero (grazing)."""
    rig = SensorRig.from_config()
    materials = rig.reflectance
    spec, points, semantic = _sweep(_street(), 'hdl64e_kitti')
    value = points['intensity']
    distance = np.hypot(points['x'], points['y'])
    near_road = (semantic == ROAD) & (distance > 5) & (distance < 15)
    nonzero = value > 0
    # a ground return's incidence cosine is its height over its range (the sensor is at 1.73 m)
    incidence = (np.abs(points['z']) / np.linalg.norm(np.stack([points[a] for a in 'xyz'], 1), axis=1))
    expected = materials.median[M.ASPHALT] * np.median(incidence[near_road]) ** spec.intensity.incidence_exponent
    assert np.median(value[near_road & nonzero]) == pytest.approx(expected, rel=0.1)
    assert np.median(value[(semantic == BUILDING) & nonzero]) == pytest.approx(materials.median[M.FACADE], rel=0.12)
    car = semantic == CAR
    assert (value[car] == 0).mean() == pytest.approx(materials.zero[M.CAR_PAINT], abs=0.08)
    assert np.median(value[car]) < np.median(value[near_road])
    assert (value[near_road] == 0).mean() < 0.05
    assert (value[(semantic == ROAD) & (distance > 32) & (distance < 45)] == 0).mean() > 0.5
    assert value.max() <= spec.intensity.maximum and np.allclose(value * 100, np.round(value * 100), atol=1e-3)


def test_sensor_scale_and_range_falloff():
    """A Velodyne writes 0-255 integers with almost no zeros; an Ouster's intensity falls with range."""
    _, points, _ = _sweep(_street(), 'vlp32c')
    assert points['intensity'].max() > 5 and np.array_equal(points['intensity'], np.round(points['intensity']))
    assert (points['intensity'] == 0).mean() < 0.03
    _, points, semantic = _sweep(_street(), 'os1_64')
    distance = np.hypot(points['x'], points['y'])
    road = semantic == ROAD
    assert (np.median(points['intensity'][road & (distance > 20) & (distance < 30)])
            < 0.5 * np.median(points['intensity'][road & (distance > 5) & (distance < 10)]))


def test_glass_passes_most_beams():
    """A pane 5 m ahead in front of a facade: most beams that reach it return from the facade behind."""
    pane = tagged(*box((5.0, -3.0, 0.0), (5.01, 3.0, 4.0)), CAR, 3, M.GLASS, (0.1, 0.1, 0.1))
    wall = tagged(*box((9.0, -3.0, 0.0), (10.0, 3.0, 4.0)), BUILDING, 0, M.FACADE, (0.7, 0.7, 0.7))
    _, points, semantic = _sweep(concat([pane, wall]), 'hdl64e_kitti')
    elevation = np.arctan2(points['z'], np.hypot(points['x'], points['y']))
    azimuth = np.arctan2(points['y'], points['x'])
    ahead = (np.abs(azimuth) < np.radians(10)) & (elevation > np.radians(-9))  # beams that meet pane and wall
    transmit = SensorRig.from_config().reflectance.transmit[M.GLASS]
    assert (semantic[ahead] == BUILDING).mean() == pytest.approx(transmit, abs=0.08)


def test_grass_returns_stand_above_the_ground_and_asphalt_lies_flat():
    """A flat plane, grass left of the sensor and asphalt right: asphalt returns lie on the plane; grass returns come
    from the blades above it, on average the drive's pile height and never above twice it, varying between
    neighbouring returns (rough) where asphalt's do not; each drive has its own grass height."""
    corners = {side: (np.array([[-60.0, 0, 0], [60, 0, 0]]), np.array([[-60.0, 60 * side, 0], [60, 60 * side, 0]]))
               for side in (1, -1)}
    ground = concat([tagged(*strip(*corners[1]), TERRAIN, 0, M.GRASS, (0.2, 0.5, 0.2)),
                     tagged(*strip(*corners[-1][::-1]), ROAD, 0, M.ASPHALT, (0.3, 0.3, 0.3))])
    rig = SensorRig.from_config()
    pile = rig.reflectance.for_drive(np.random.default_rng(0), False).pile
    assert pile[M.ASPHALT] == 0 and pile[M.GRASS] > 0
    _, points, semantic = _sweep(ground, 'hdl64e_kitti')
    height = points['z'] + 1.73  # above the plane (range noise: about 1 cm here)
    near = (np.hypot(points['x'], points['y']) > 5) & (np.hypot(points['x'], points['y']) < 15)
    grass, asphalt = height[near & (semantic == TERRAIN)], height[near & (semantic == ROAD)]
    assert np.abs(asphalt).max() < 0.04 and len(grass) > 1000 and len(asphalt) > 1000
    assert grass.mean() == pytest.approx(pile[M.GRASS], rel=0.3)
    assert grass.min() > -0.04 and grass.max() < 2 * pile[M.GRASS] + 0.04
    assert np.std(np.diff(grass)) > 3 * np.std(np.diff(asphalt))
    factor = rig.reflectance.pile_factor
    heights = [rig.reflectance.for_drive(np.random.default_rng(s), False).pile[M.GRASS] for s in range(20)]
    assert len(set(heights)) == 20
    assert factor[0] * rig.reflectance.pile[M.GRASS] <= min(heights) < max(heights) \
        <= factor[1] * rig.reflectance.pile[M.GRASS]


def test_a_units_beams_are_off_their_table_angles_yet_reported_at_them():
    """KITTI's HDL-64E units: on flat ground each beam's ring sits above or below the plane by its own error
    (centimetres at 10 m) where an ideal sensor's rings lie on it; points keep the table's elevations."""
    ground = tagged(*strip(np.array([[-60.0, -60, 0], [60, -60, 0]]), np.array([[-60.0, 60, 0], [60, 60, 0]])),
                    ROAD, 0, M.ASPHALT, (0.3, 0.3, 0.3))
    spec = load_lidars().get()
    assert spec.calibration_error_deg > 0
    offsets = {}
    for unit in (None, 7):
        _, points, _ = _sweep(ground, 'hdl64e_kitti', unit=unit)
        distance = np.hypot(points['x'], points['y'])
        near = (distance > 6) & (distance < 15)
        offsets[unit] = np.array([np.median(points['z'][near & (points['ring'] == b)] + 1.73)
                                  for b in np.unique(points['ring'][near])])
        elevation = np.degrees(np.arctan2(points['z'], distance))
        assert np.abs(elevation - np.asarray(spec.elevations_deg)[points['ring']]).max() < 0.02
    assert np.abs(offsets[None]).max() < 0.005
    assert 0.01 < np.std(offsets[7]) < 0.08
    drawn = np.array(spec.unit(np.random.default_rng(7)).elevation_errors_deg)
    assert len(drawn) == spec.beams and np.std(drawn) == pytest.approx(spec.calibration_error_deg, rel=0.3)


def test_randomisation_moves_material_responses_between_drives_but_not_labels():
    reflectance = SensorRig.from_config().reflectance
    calibrated = reflectance.for_drive(np.random.default_rng(0), randomise=False)
    np.testing.assert_array_equal(calibrated.median, reflectance.median)
    a, b = (reflectance.for_drive(np.random.default_rng(seed), randomise=True) for seed in (1, 2))
    assert np.abs(np.log(a.median / b.median)).mean() > 0.2
    assert a.gain != b.gain
    # the order of materials by median changes between drives: no absolute value names a class
    orders = [np.argsort(reflectance.for_drive(np.random.default_rng(s), True).median) for s in range(10)]
    assert len({tuple(o) for o in orders}) == 10
    # same beams, same labels, other intensities (beyond 25 m a darker drive may lose returns)
    (_, a, label_a), (_, b, label_b) = (_sweep(_street(), 'hdl64e_kitti', seed=1, randomise=r) for r in (True, False))
    near_a, near_b = (np.hypot(p['x'], p['y']) < 25 for p in (a, b))
    np.testing.assert_array_equal(a[['x', 'y', 'z']][near_a], b[['x', 'y', 'z']][near_b])
    np.testing.assert_array_equal(label_a[near_a], label_b[near_b])
    assert not np.array_equal(a['intensity'][near_a], b['intensity'][near_b])


def test_mounting_is_jittered_per_drive_and_seeded():
    rig = SensorRig.from_config()
    jitter = rig.mount_jitter
    mounts = [DriveSimulator(seed, 1, rig).rig.base_T_lidar for seed in (1000, 1001, 1000)]
    np.testing.assert_array_equal(mounts[0], mounts[2])
    assert not np.allclose(mounts[0], mounts[1])
    for mount in mounts:
        assert abs(mount[2, 3] - rig.lidar.mount_height) <= jitter['height_m']
        pitch = np.degrees(np.arcsin(-mount[2, 0]))
        assert abs(pitch - rig.lidar.mount_pitch_deg) <= jitter['pitch_deg'] + jitter['roll_deg']


def test_recording_names_its_sensor(tmp_path):
    assert sim_main(['--seed', '1', '--frames', '1', '--lidar', 'vlp16', '--out', str(tmp_path / 'bag'),
                     '--semantickitti', str(tmp_path / 'kitti'), '--width', '64', '--height', '32']) == 0
    for meta in (tmp_path / 'bag' / 'simulation.yaml', tmp_path / 'kitti' / 'meta' / 'sim1.yaml'):
        provenance = yaml.safe_load(meta.read_text())
        assert provenance['lidar'] == 'vlp16' and provenance['randomise'] is False
    with BagReader(tmp_path / 'bag') as bag:
        sweep = next(pointcloud2_to_array(msg) for topic, _, msg in bag.messages() if topic == T.LIDAR_POINTS)
    assert set(np.unique(sweep['ring'])) <= set(range(16))
