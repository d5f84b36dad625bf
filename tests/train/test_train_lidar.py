import numpy as np
import pytest
import yaml

from perception.core.lidar.segmenter import LidarSegmenter, LidarSegmenterConfig
from perception.io.semantickitti import write_frame
from perception.models.sparse_unet import spconv
from perception.taxonomy import load_taxonomy
from perception.train.lidar import Augmentation, main

TAXONOMY = load_taxonomy()


@pytest.fixture(scope='module')
def kitti_root(tmp_path_factory):
    """Sequences 00 (train, 3 sweeps) and 01 (val, 1 sweep) of ground, a car and a pole."""
    root = tmp_path_factory.mktemp('kitti')
    rng = np.random.default_rng(0)
    road, car, pole = TAXONOMY.id_of('road'), TAXONOMY.id_of('car'), TAXONOMY.id_of('pole')
    for sequence, frames in ((0, 3), (1, 1)):
        for frame in range(frames):
            parts = [(rng.uniform([-20, -20, -1.7], [20, 20, -1.7], (1500, 3)), road),
                     (rng.uniform([4, -1, -1.5], [8.5, 1, 0], (400, 3)), car),
                     (rng.uniform([-3.1, 5.9, -1.7], [-2.9, 6.1, 2.5], (100, 3)), pole)]
            xyz = np.concatenate([p for p, _ in parts])
            points = np.hstack([xyz, rng.uniform(0, 1, (len(xyz), 1))]).astype(np.float32)
            labels = np.concatenate([np.full(len(p), label, np.uint8) for p, label in parts])
            write_frame(root, sequence, frame, points, labels, np.where(labels == car, 1, 0))
    return root


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
])
def test_bad_arguments_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(['--backend', 'sparse', '--data', str(tmp_path), '--train-sequences', '00',
                 '--val-sequences', '01', '--run-dir', str(tmp_path / 'run')]) == 1
    assert 'no labelled sweeps' in capsys.readouterr().err


def test_augmentation_is_a_rigid_mirror_scale_and_small_jitter():
    rng = np.random.default_rng(0)
    points = rng.uniform(-10, 10, (500, 4)).astype(np.float32)
    augmented = Augmentation(scale=(1.0, 1.0), jitter=0.0)(points, rng)
    distances = np.linalg.norm(points[:, None, :3] - points[None, :20, :3], axis=2)
    augmented_distances = np.linalg.norm(augmented[:, None, :3] - augmented[None, :20, :3], axis=2)
    np.testing.assert_allclose(augmented_distances, distances, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(augmented[:, 2:], points[:, 2:], atol=1e-5)  # z and intensity unchanged
    jittered = Augmentation(rotate=False, flip=False, scale=(1.0, 1.0), jitter=0.01)(points, rng)
    assert 0 < np.abs(jittered[:, :3] - points[:, :3]).max() <= 0.03 + 1e-6
