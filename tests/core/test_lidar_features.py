"""The per-point inputs a LiDAR model reads are stated in its weights and checked at load; a sparse U-Net can be
narrowed to fewer inputs without changing what it computes from the others."""
import numpy as np
import pytest
import torch

from perception.core.lidar.segmenter import LidarModel
from perception.models.pointnet2 import PointNet2
from perception.models.sparse_unet import SparseUNet, spconv
from perception.preprocessing.voxelize import POINT_FEATURES, collate, point_features, voxelize

NO_INTENSITY = ('x', 'y', 'z', 'range')


def test_point_features_in_the_named_order():
    points = torch.tensor([[3.0, 4.0, 0.0, 0.5]])
    assert point_features(points).tolist() == [[3.0, 4.0, 0.0, 0.5, 5.0]]
    assert point_features(points, ('range', 'intensity', 'z')).tolist() == [[5.0, 0.5, 0.0]]
    for bad in (('x', 'x'), ('colour',), ()):
        with pytest.raises(ValueError, match='point features'):
            point_features(points, bad)


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_weights_state_their_features_and_a_mismatch_is_refused(tmp_path):
    model = LidarModel.build('sparse', {'num_classes': 21, 'channels': (8, 16), 'point_channels': 8}, 0.3,
                             features=NO_INTENSITY)
    assert model.network.config.in_channels == 4
    model.save(tmp_path / 'w.pt', [str(i) for i in range(21)])
    assert LidarModel.load(tmp_path / 'w.pt').features == NO_INTENSITY
    weights = torch.load(tmp_path / 'w.pt', weights_only=True)
    weights['features'] = list(POINT_FEATURES)  # five inputs named, four trained
    torch.save(weights, tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='bad.pt: the network reads 4 features'):
        LidarModel.load(tmp_path / 'bad.pt')


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_narrowing_a_sparse_unet_keeps_what_it_computes_from_the_other_features():
    torch.manual_seed(0)
    full = LidarModel.build('sparse', {'num_classes': 5, 'channels': (8, 16), 'point_channels': 8}, 0.3)
    network = full.network.eval()
    with torch.no_grad():  # make the full network blind to intensity (feature 3): the input norm maps it to 0
        network.input_norm.weight[3] = 0.0
        network.input_norm.bias[3] = 0.0
        network.point_branch[0].weight[[3, 8]] = 0.0
        network.point_branch[0].bias[[3, 8]] = 0.0
    keep = [POINT_FEATURES.index(f) for f in NO_INTENSITY]
    narrow = LidarModel.build('sparse', {'num_classes': 5, 'channels': (8, 16), 'point_channels': 8}, 0.3,
                              features=NO_INTENSITY)
    narrow.network.load_state_dict(SparseUNet.select_input_features(network.state_dict(), keep, 5))
    narrow.network.eval()
    points = torch.from_numpy(np.random.default_rng(0).uniform([-10, -10, -2, 0], [10, 10, 2, 1], (3000, 4))
                              .astype(np.float32))
    with torch.no_grad():
        expected = network(voxelize(collate([points]), 0.3))
        got = narrow.network(voxelize(collate([points], features=NO_INTENSITY), 0.3))
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_narrowing_a_pointnet2_keeps_what_it_computes_from_the_other_features():
    torch.manual_seed(0)
    full = LidarModel.build('pointnet2', {'num_classes': 5}, 0.3, 4096)
    network = full.network.eval()
    with torch.no_grad():  # make the full network blind to intensity (feature 3): the input norm maps it to 0
        network.input_norm.weight[3] = 0.0
        network.input_norm.bias[3] = 0.0
    keep = [POINT_FEATURES.index(f) for f in NO_INTENSITY]
    narrow = LidarModel.build('pointnet2', {'num_classes': 5}, 0.3, 4096, features=NO_INTENSITY)
    narrow.network.load_state_dict(PointNet2.select_input_features(network.state_dict(), keep, 5))
    narrow.network.eval()
    points = torch.from_numpy(np.random.default_rng(0).uniform([-10, -10, -2, 0], [10, 10, 2, 1], (3000, 4))
                              .astype(np.float32))
    with torch.no_grad():
        expected, got = full.logits(points), narrow.logits(points)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    moved = points.clone()
    moved[:, :3] += torch.tensor([0.0, 0.0, 0.5])  # z is read: the comparison above is not between constants
    with torch.no_grad():
        assert not torch.allclose(narrow.logits(moved), got, atol=1e-2)
