"""Self-training pieces: class-balanced pseudo-label thresholds, pseudo-labels, the mean teacher, and a LiDAR
adaptation run on a tiny set."""
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from perception.models.sparse_unet import spconv
from perception.train.lidar import main as train_lidar
from perception.train.self_training import MeanTeacher, class_balanced_thresholds, pseudo_labels


def test_thresholds_keep_the_same_share_of_every_class():
    rng = np.random.default_rng(0)
    confidence = np.concatenate([rng.uniform(0.9, 1.0, 1000), rng.uniform(0.3, 0.6, 100)])
    predicted = np.concatenate([np.zeros(1000, int), np.ones(100, int)])
    thresholds = class_balanced_thresholds(confidence, predicted, 3, keep_fraction=0.5, floor=0.2)
    assert thresholds[0] == pytest.approx(0.95, abs=0.01) and thresholds[1] == pytest.approx(0.45, abs=0.03)
    assert thresholds[2] == 0.99  # never predicted: no pseudo-label
    for c in (0, 1):  # the rare, less confident class keeps half of its points too
        assert (confidence[predicted == c] >= thresholds[c]).mean() == pytest.approx(0.5, abs=0.02)
    floored = class_balanced_thresholds(confidence, predicted, 3, keep_fraction=0.9, floor=0.5)
    assert floored[1] == 0.5 and floored[0] < 0.95
    with pytest.raises(ValueError):
        class_balanced_thresholds(confidence, predicted, 3, keep_fraction=0.0, floor=0.5)


def test_pseudo_labels_ignore_what_is_below_its_class_threshold():
    probabilities = torch.tensor([[0.9, 0.1], [0.6, 0.4], [0.3, 0.7], [0.45, 0.55]])
    labels = pseudo_labels(probabilities, torch.tensor([0.8, 0.6]), ignore_id=255)
    assert labels.tolist() == [0, 255, 1, 255]


def test_mean_teacher_is_an_exponential_moving_average():
    student = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    teacher = MeanTeacher(student, decay=0.9)
    before = teacher.network[0].weight.clone()
    with torch.no_grad():
        student[0].weight.add_(1.0)
    student[1].num_batches_tracked += 5
    teacher.update(student)
    torch.testing.assert_close(teacher.network[0].weight, 0.9 * before + 0.1 * student[0].weight)
    assert int(teacher.network[1].num_batches_tracked) == 5
    assert not any(p.requires_grad for p in teacher.network.parameters())


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_lidar_adaptation_runs_on_real_sweep_folders(kitti_root, tmp_path, capsys):
    real = tmp_path / 'real'
    real.mkdir()
    rng = np.random.default_rng(0)
    for i in range(2):  # unlabelled "real" sweeps: ground and a box, in the KITTI .bin layout
        xyz = np.concatenate([rng.uniform([-20, -20, -1.7], [20, 20, -1.7], (1500, 3)),
                              rng.uniform([4, -1, -1.5], [8.5, 1, 0], (400, 3))])
        np.hstack([xyz, rng.uniform(0, 1, (len(xyz), 1))]).astype(np.float32).tofile(real / f'{i:06d}.bin')
    common = ['--backend', 'sparse', '--data', str(kitti_root), '--train-sequences', '00', '--val-sequences', '01',
              '--batch-size', '1', '--val-every', '2', '--checkpoint-every', '2', '--workers', '0',
              '--device', 'cpu']
    tiny = ['--channels', '8', '16', '--point-channels', '8', '--voxel-size', '0.3']
    base = tmp_path / 'base.pt'
    assert train_lidar([*common, *tiny, '--steps', '2', '--out', str(base), '--run-dir', str(tmp_path / 'a')]) == 0
    adapted = tmp_path / 'adapted.pt'
    assert train_lidar([*common, '--steps', '2', '--init', str(base), '--adapt', str(real), '--out', str(adapted),
                        '--run-dir', str(tmp_path / 'b'), '--threshold-every', '1']) == 0
    record = yaml.safe_load(adapted.with_suffix('.yaml').read_text())
    assert record['data']['adapted_on']['sweeps'] == 2 and record['initialised_from']['weights'] == str(base)
    thresholds = record['data']['adapted_on']['last_thresholds']
    assert all(0.5 <= t <= 0.99 for t in thresholds.values())
    empty = tmp_path / 'empty'
    empty.mkdir()
    assert train_lidar([*common, '--steps', '2', '--init', str(base), '--adapt', str(empty),
                        '--run-dir', str(tmp_path / 'c')]) == 1
    assert 'no .bin, .npz or .pcd sweeps' in capsys.readouterr().err
