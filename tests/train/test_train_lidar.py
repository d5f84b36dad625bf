import numpy as np
import pytest
import torch
import yaml

from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.models.sparse_unet import spconv
from perception.taxonomy import load_taxonomy
from perception.train.lidar import MAX_RANGE_WEIGHT, Augmentation, main, range_weights

TAXONOMY = load_taxonomy()


def _train(root, tmp_path, backend, *extra):
    out = tmp_path / f'{backend}.pt'
    argv = ['--backend', backend, '--data', str(root), '--train-sequences', '00', '--val-sequences', '01',
            '--out', str(out), '--run-dir', str(tmp_path / 'run'), '--batch-size', '2', '--val-every', '2',
            '--checkpoint-every', '1', '--workers', '0', '--device', 'cpu', *extra]
    return main(argv), out


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_sparse_training_writes_loadable_weights_and_resumes(kitti_root, tmp_path):
    tiny = ('--channels', '8', '16', '--point-channels', '8', '--voxel-size', '0.3')
    code, out = _train(kitti_root, tmp_path, 'sparse', '--steps', '3', *tiny)
    assert code == 0
    record = yaml.safe_load(out.with_suffix('.yaml').read_text())
    assert record['data']['train_frames'] == 3 and record['data']['train_sequences'] == ['00']
    assert 0 <= record['results']['val_miou'] <= 100 and record['command']
    segmenter = LidarSegmenter(LidarSegmenterConfig(backend='sparse', weights=str(out), device='cpu'))
    assert segmenter.model.network.config.channels == (8, 16) and segmenter.model.voxel_size == 0.3
    assert segmenter.model.record['results']['val_miou'] == record['results']['val_miou']
    # Resuming continues the same run; a different length or architecture is refused.
    assert _train(kitti_root, tmp_path, 'sparse', '--steps', '3', '--resume', *tiny)[0] == 0
    assert _train(kitti_root, tmp_path, 'sparse', '--steps', '5', '--resume', *tiny)[0] == 1
    assert _train(kitti_root, tmp_path, 'sparse', '--steps', '3', '--resume', '--channels', '8', '32')[0] == 1


def test_pointnet2_training_runs(kitti_root, tmp_path):
    code, out = _train(kitti_root, tmp_path, 'pointnet2', '--steps', '2', '--chunk-points', '512')
    assert code == 0
    segmenter = LidarSegmenter(LidarSegmenterConfig(backend='pointnet2', weights=str(out), device='cpu'))
    assert segmenter.model.chunk_points == 512


@pytest.mark.parametrize('argv', [
    ['--backend', 'voxels'],
    ['--backend', 'sparse', '--steps', '0'],
    ['--backend', 'sparse', '--voxel-size', '-0.1'],
    ['--backend', 'sparse', '--min-range', '5', '--max-range', '2'],
    ['--backend', 'sparse', '--range-weighting', '-1'],
])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_range_weights_grow_with_horizontal_range_between_one_and_the_cap():
    coord = torch.tensor([[3.0, 4.0, 9.0], [30.0, 0.0, -2.0], [0.0, -45.0, 0.0], [400.0, 0.0, 0.0]])
    torch.testing.assert_close(range_weights(coord, 15.0), torch.tensor([1.0, 2.0, 3.0, MAX_RANGE_WEIGHT]))


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(['--backend', 'sparse', '--data', str(tmp_path), '--train-sequences', '00',
                 '--val-sequences', '01', '--run-dir', str(tmp_path / 'run')]) == 1
    assert 'no labelled sweeps' in capsys.readouterr().err


def test_augmentation_is_a_rigid_mirror_scale_and_small_jitter():
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 10, (500, 4)).astype(np.float32)
    labels = np.arange(500)
    augmented, kept = Augmentation(scale=(1.0, 1.0), jitter=0.0)(points, labels, rng)
    assert np.array_equal(kept, labels)
    distances = np.linalg.norm(points[:, None, :3] - points[None, :20, :3], axis=2)
    augmented_distances = np.linalg.norm(augmented[:, None, :3] - augmented[None, :20, :3], axis=2)
    np.testing.assert_allclose(augmented_distances, distances, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(augmented[:, 2:], points[:, 2:], atol=1e-5)  # z and intensity unchanged
    jittered, _ = Augmentation(rotate=False, flip=False, scale=(1.0, 1.0), jitter=0.01)(points, labels, rng)
    assert 0 < np.abs(jittered[:, :3] - points[:, :3]).max() <= 0.03 + 1e-6


def _beam_sweep(rng, beams=64, spacing=0.425):
    """Points on `beams` elevation rings (the training sweeps' beam spacing), labelled with their ring."""
    ring = rng.integers(0, beams, 6000)
    elevation = np.radians(-(ring + 0.5) * spacing)
    azimuth, distance = rng.uniform(0, 2 * np.pi, 6000), rng.uniform(5, 30, 6000)
    xyz = np.stack([distance * np.cos(elevation) * np.cos(azimuth), distance * np.cos(elevation) * np.sin(azimuth),
                    distance * np.sin(elevation)], axis=1)
    return np.hstack([xyz, rng.uniform(0.1, 0.9, (6000, 1))]).astype(np.float32), ring


def test_sensor_augmentation_thins_beams_and_keeps_labels_with_their_points():
    rng = np.random.default_rng(1)
    points, ring = _beam_sweep(rng)
    only_beams = Augmentation(rotate=False, flip=False, scale=(1, 1), jitter=0.0, beam_drop_p=1.0)
    for _ in range(5):
        augmented, kept_ring = only_beams(points, ring, rng)
        rings = np.unique(kept_ring)
        assert len(rings) in (16, 32) and len(np.unique(rings % (64 // len(rings)))) == 1  # every 2nd or 4th beam
        np.testing.assert_allclose(augmented[:, :3], points[np.isin(ring, rings), :3], atol=1e-5)
    thinned, _ = Augmentation(thinning=(0.5, 0.5))(points, ring, rng)
    assert 0.45 < len(thinned) / len(points) < 0.55


def test_sensor_augmentation_moves_the_ground_and_rescales_intensity():
    rng = np.random.default_rng(2)
    points = np.hstack([rng.uniform(-20, 20, (2000, 2)), np.full((2000, 1), -1.73),
                        rng.uniform(0.05, 0.95, (2000, 1))]).astype(np.float32)
    labels = np.zeros(2000)
    heights, zeros, medians = [], [], []
    augmentation = Augmentation(rotate=False, flip=False, scale=(1, 1), jitter=0.0, height_shift=0.25,
                                intensity_gain=3.0, intensity_gamma=2.0, intensity_zero=0.15, intensity_drop_p=0.3)
    for _ in range(40):
        augmented, _ = augmentation(points, labels, rng)
        assert np.ptp(augmented[:, 2]) < 1e-5 and abs(augmented[0, 2] + 1.73) <= 0.25 + 1e-5  # still a plane
        heights.append(augmented[0, 2])
        zeros.append((augmented[:, 3] == 0).mean())
        medians.append(np.median(augmented[:, 3]))
        assert augmented[:, 3].min() >= 0 and augmented[:, 3].max() <= 1
    assert np.ptp(heights) > 0.2
    assert sum(z == 1.0 for z in zeros) >= 4  # whole sweeps without intensity (p = 0.3 of 40)
    assert 0 < np.median([z for z in zeros if z < 1]) <= 0.15
    assert np.ptp(medians) > 0.3  # the intensity scale differs from sweep to sweep


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_fine_tuning_without_intensity_records_the_features(kitti_root, tmp_path):
    tiny = ('--channels', '8', '16', '--point-channels', '8', '--voxel-size', '0.3')
    code, base = _train(kitti_root, tmp_path, 'sparse', '--steps', '2', *tiny)
    assert code == 0
    code, out = _train(kitti_root, tmp_path / 'tuned', 'sparse', '--steps', '2', '--init', str(base),
                       '--features', 'x', 'y', 'z', 'range', '--augment', 'sensor')
    assert code == 0
    segmenter = LidarSegmenter(LidarSegmenterConfig(backend='sparse', weights=str(out), device='cpu'))
    assert segmenter.model.features == ('x', 'y', 'z', 'range') and segmenter.model.voxel_size == 0.3
    rng = np.random.default_rng(0)
    sweep = np.hstack([rng.uniform([-20, -20, -1.7], [20, 20, -1.7], (800, 3)),
                       rng.uniform(0, 1, (800, 1))]).astype(np.float32)
    rescaled = sweep.copy()
    rescaled[:, 3] = 0.0
    first, second = segmenter.process(sweep), segmenter.process(rescaled)
    assert np.array_equal(first.labels, second.labels)  # intensity is not an input at all
    assert _train(kitti_root, tmp_path / 'bad', 'pointnet2', '--steps', '1', '--init', str(base))[0] == 1
    # A narrower --channels slims the initial network; the record names what it was slimmed from.
    code, slim = _train(kitti_root, tmp_path / 'slim', 'sparse', '--steps', '1', '--init', str(base),
                        '--channels', '8', '12')
    assert code == 0 and LidarSegmenter(LidarSegmenterConfig(backend='sparse', weights=str(slim), device='cpu'))\
        .model.network.config.channels == (8, 12)
    record = yaml.safe_load(slim.with_suffix('.yaml').read_text())
    assert record['initialised_from']['model_config']['channels'] == [8, 16]
    assert _train(kitti_root, tmp_path / 'wider', 'sparse', '--steps', '1', '--init', str(base),
                  '--channels', '8', '32')[0] == 1
    # ... and learns from the unslimmed model; a teacher that reads other inputs is refused
    code, distilled = _train(kitti_root, tmp_path / 'distilled', 'sparse', '--steps', '1', '--init', str(base),
                             '--channels', '8', '12', '--distill', str(base))
    assert code == 0 and yaml.safe_load(distilled.with_suffix('.yaml').read_text())['distilled_from']['weights'] \
        == str(base)
    assert _train(kitti_root, tmp_path / 'mismatch', 'sparse', '--steps', '1', '--init', str(base),
                  '--distill', str(out))[0] == 1  # out reads x y z range, the student all five features
