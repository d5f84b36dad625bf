"""The camera's look per drive: photographs expose like a real camera's, asphalt is smooth, and domain
randomisation changes the materials' colours between drives but never the labels."""
import numpy as np
import pytest

from perception.sim.agents import car
from perception.sim.materials import M, TextureLook, albedo, luminance
from perception.sim.simulator import DriveSimulator, SensorRig
from perception.taxonomy import load_taxonomy


@pytest.fixture(scope='module')
def drives():
    plain = SensorRig.from_config(width=160, height=64)
    randomised = SensorRig.from_config(width=160, height=64, randomise=True)
    return {(seed, rig.randomise): DriveSimulator(seed, 1, rig).frame(0)
            for seed in (1010, 1011) for rig in (plain, randomised)}


def test_randomisation_changes_colours_between_drives_but_not_labels(drives):
    road = load_taxonomy().id_of('road')
    for seed in (1010, 1011):
        plain, randomised = drives[seed, False], drives[seed, True]
        np.testing.assert_array_equal(plain.semantic, randomised.semantic)
        np.testing.assert_array_equal(plain.instance, randomised.instance)
        assert not np.array_equal(plain.image, randomised.image)
    # the road's colour (chromaticity, not brightness: exposure varies anyway) differs between randomised drives
    colours = [drives[seed, True].image[drives[seed, True].semantic == road].mean(0) for seed in (1010, 1011)]
    chroma = [c / c.sum() for c in colours]
    assert np.abs(chroma[0] - chroma[1]).max() > 0.01


def test_randomised_drive_is_still_deterministic():
    rig = SensorRig.from_config(width=96, height=48, randomise=True)
    a, b = DriveSimulator(1012, 1, rig).frame(0), DriveSimulator(1012, 1, rig).frame(0)
    np.testing.assert_array_equal(a.image, b.image)
    np.testing.assert_array_equal(a.points, b.points)


def test_texture_looks_differ_per_drive_and_identity_is_the_calibrated_look():
    ranges = SensorRig.from_config().camera_randomise
    a, b = (TextureLook.random(np.random.default_rng(seed), ranges) for seed in (0, 1))
    assert not np.allclose(a.gain, b.gain) and not np.allclose(a.texture, b.texture)
    identity = TextureLook.identity()
    material = np.full(1000, M.CAR_PAINT, np.uint8)
    colour = np.tile(np.float32([0.6, 0.1, 0.1]), (1000, 1))
    coords = np.random.default_rng(0).uniform(0, 10, (2, 1000))
    plain, _ = albedo(material, colour, *coords, seed=0, look=identity)
    np.testing.assert_allclose(plain.mean(0), colour[0], atol=0.02)


def test_asphalt_is_smooth_and_glass_mirrors():
    rng = np.random.default_rng(0)
    a, b = rng.uniform(0, 30, (2, 20000))
    colour, mirror = albedo(np.full(20000, M.ASPHALT, np.uint8), np.full((20000, 3), 0.3, np.float32), a, b, seed=3)
    grey = luminance(colour)
    assert grey.std() / grey.mean() < 0.1  # real asphalt is low-contrast (CamVid road: 0.09 high-pass contrast)
    assert not mirror.any()
    _, glass_mirror = albedo(np.full(10, M.GLASS, np.uint8), np.full((10, 3), 0.1, np.float32), a[:10], b[:10], 3)
    assert (glass_mirror > 0.3).all()


def test_photograph_exposes_to_its_target(drives):
    rig = SensorRig.from_config(width=160, height=64)
    sim = DriveSimulator(1010, 1, rig)
    brightness = luminance(drives[1010, False].image.astype(np.float32) / 255).mean()
    assert brightness == pytest.approx(sim.look.exposure, abs=0.08)
    assert sim.look.sky in rig.camera_looks['skies']


def test_cars_are_shaped_with_glass_wheels_and_varied_sizes():
    lengths, heights = [], []
    for instance in range(1, 30):
        mesh = car(np.random.default_rng(instance), instance)
        extent = mesh.vertices.max(0) - mesh.vertices.min(0)
        lengths.append(extent[0])
        heights.append(extent[2])
        materials = set(np.unique(mesh.material))
        assert {M.CAR_PAINT, M.GLASS, M.RUBBER, M.METAL} <= materials
        assert mesh.vertices[:, 2].min() == pytest.approx(0, abs=0.01)  # on its wheels
        # not a box: the roof is narrower than the body
        top = mesh.vertices[mesh.vertices[:, 2] > extent[2] - 0.02]
        assert np.ptp(top[:, 1]) < 0.9 * extent[1]
    assert max(lengths) - min(lengths) > 0.8 and max(heights) - min(heights) > 0.25
