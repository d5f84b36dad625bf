import numpy as np
import pytest
import torch

from perception.core.lidar.instances import ClusteringConfig, cluster_instances
from perception.core.lidar.segmenter import LidarModel, LidarSegmenter, LidarSegmenterConfig
from perception.models.sparse_unet import spconv
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
TINY_NETWORKS = {
    'sparse': ({'num_classes': TAXONOMY.num_classes, 'channels': (8, 16), 'point_channels': 8}, 0.3, 0),
    'pointnet2': ({'num_classes': TAXONOMY.num_classes, 'num_centroids': (64, 16), 'radii': (1.0, 3.0),
                   'num_neighbours': 8, 'sa_channels': ((16,), (32,)), 'fp_channels': ((32,), (16,))}, 0.3, 256),
}
BACKENDS = [pytest.param('sparse', marks=pytest.mark.skipif(spconv is None, reason='spconv is not installed')),
            'pointnet2']


@pytest.fixture(scope='module', params=BACKENDS)
def segmenter(request, tmp_path_factory):
    """A segmenter over a freshly initialised (untrained) tiny network of each backend."""
    torch.manual_seed(0)
    model_config, voxel_size, chunk_points = TINY_NETWORKS[request.param]
    path = tmp_path_factory.mktemp('weights') / f'{request.param}.pt'
    LidarModel.build(request.param, model_config, voxel_size, chunk_points).save(path, TAXONOMY.names)
    return LidarSegmenter(LidarSegmenterConfig(backend=request.param, weights=str(path), device='cpu',
                                               min_range=1.0, max_range=50.0))


def _sweep(count: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    xyz = rng.uniform([-20, -20, -2], [20, 20, 2], (count, 3))
    xyz[np.linalg.norm(xyz, axis=1) < 1.5] += 3.0  # keep the random points in range
    return np.hstack([xyz, rng.uniform(0, 1, (count, 1))]).astype(np.float32)


def _check_segmented(result, valid):
    assert result.labels.dtype == np.uint8 and result.confidence.dtype == np.float32
    assert result.instance.dtype == np.uint32
    np.testing.assert_array_equal(result.valid, valid)
    assert set(result.labels[valid].tolist()) <= set(TAXONOMY.lidar_ids)
    assert (result.confidence[valid] > 0).all() and (result.confidence[valid] <= 1).all()
    assert (result.labels[~valid] == TAXONOMY.ignore_id).all()
    assert (result.confidence[~valid] == 0).all() and (result.instance[~valid] == 0).all()
    assert not result.instance[valid][~TAXONOMY.is_thing[result.labels[valid]]].any()  # stuff gets instance 0


def test_nonfinite_points_are_dropped_and_counted(segmenter):
    points = _sweep(3000)
    points[5, 0] = np.nan
    points[7, 3] = np.inf
    points[9, 2] = -np.inf
    result = segmenter.process(points)
    valid = np.ones(len(points), bool)
    valid[[5, 7, 9]] = False
    _check_segmented(result, valid)
    assert (result.dropped_nonfinite, result.dropped_out_of_range) == (3, 0)
    assert set(result.timing_ms) == {'preprocess', 'inference', 'clustering', 'total'}
    assert result.timing_ms['total'] >= result.timing_ms['inference'] > 0


def test_out_of_range_points_are_dropped_and_counted(segmenter):
    points = _sweep(2000)
    points[:3, :3] = [[0.2, 0.1, 0.0], [60.0, 0.0, 0.0], [0.0, 0.0, -80.0]]
    result = segmenter.process(points)
    _check_segmented(result, np.arange(len(points)) >= 3)
    assert (result.dropped_nonfinite, result.dropped_out_of_range) == (0, 3)


@pytest.mark.parametrize('count', [0, 1, 2, 5])
def test_empty_and_tiny_clouds(segmenter, count):
    result = segmenter.process(_sweep(count, seed=count))
    assert len(result.labels) == len(result.confidence) == len(result.instance) == count
    _check_segmented(result, np.ones(count, bool))


def test_cloud_without_valid_points(segmenter):
    points = np.full((4, 4), np.nan, np.float32)
    points[0] = [500.0, 0, 0, 0.5]
    result = segmenter.process(points)
    _check_segmented(result, np.zeros(4, bool))
    assert (result.dropped_nonfinite, result.dropped_out_of_range) == (3, 1)


@pytest.mark.parametrize('shape', [(10, 3), (10, 5), (40,), (2, 10, 4)])
def test_wrong_shape_raises(segmenter, shape):
    with pytest.raises(ValueError, match=r'\(N, 4\)'):
        segmenter.process(np.zeros(shape, np.float32))


def test_weights_round_trip_rebuilds_the_same_network(segmenter, tmp_path):
    model = LidarModel.load(segmenter.config.weights)
    path = tmp_path / 'copy.pt'
    model.save(path, TAXONOMY.names, record={'note': 'copy'})
    loaded = LidarModel.load(path)
    for attribute in ('backend', 'voxel_size', 'chunk_points', 'class_names'):
        assert getattr(loaded, attribute) == getattr(model, attribute)
    assert loaded.network.config == model.network.config and loaded.record == {'note': 'copy'}
    saved, rebuilt = model.network.state_dict(), loaded.network.state_dict()
    assert saved.keys() == rebuilt.keys() and all(torch.equal(saved[k], rebuilt[k]) for k in saved)
    points = torch.from_numpy(_sweep(1500, seed=3))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # with more, float sums in PointNet++'s point searches can break ties differently
    try:
        with torch.no_grad():
            torch.testing.assert_close(loaded.logits(points), model.logits(points))
    finally:
        torch.set_num_threads(threads)


def test_configuration_errors(segmenter, tmp_path):
    weights = tmp_path / 'w.pt'
    model = LidarModel.load(segmenter.config.weights)
    model.save(weights, TAXONOMY.names)
    other = 'pointnet2' if model.backend == 'sparse' else 'sparse'
    with pytest.raises(ValueError, match='backend'):
        LidarSegmenter(LidarSegmenterConfig(backend=other, weights=str(weights), device='cpu'))
    with pytest.raises(FileNotFoundError):
        LidarSegmenter(LidarSegmenterConfig(backend=other, weights=str(tmp_path / 'missing.pt'), device='cpu'))
    model.save(weights, TAXONOMY.names[:-1] + ('unicorn',))
    with pytest.raises(ValueError, match='classes'):
        LidarSegmenter(LidarSegmenterConfig(backend=model.backend, weights=str(weights), device='cpu'))
    with pytest.raises(ValueError, match='folded'):
        segmenter.model.save(weights, TAXONOMY.names)


def test_folding_batch_norms_keeps_the_outputs(segmenter):
    """With batch norm statistics far from identity (as after training), the folded network the segmenter runs
    gives the logits of the network it was folded from."""
    model = LidarModel.load(segmenter.config.weights)
    generator = torch.Generator().manual_seed(1)
    for norm in model.network.modules():
        if isinstance(norm, torch.nn.BatchNorm1d):
            size = norm.num_features
            norm.running_mean.copy_(torch.randn(size, generator=generator))
            norm.running_var.copy_(torch.rand(size, generator=generator) * 3 + 0.2)
            norm.weight.data.copy_(torch.randn(size, generator=generator))
            norm.bias.data.copy_(torch.randn(size, generator=generator))
    folded = model.for_inference()
    norms = [sum(isinstance(m, torch.nn.BatchNorm1d) for m in n.modules()) for n in (model.network, folded.network)]
    assert norms[1] <= 2 < norms[0]  # only the norms of the raw inputs are left
    points = torch.from_numpy(_sweep(1500, seed=4))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.no_grad():
            expected, actual = model.eval().logits(points), folded.logits(points)
    finally:
        torch.set_num_threads(threads)
    assert expected.std() > 1  # the randomised statistics matter
    torch.testing.assert_close(actual, expected, rtol=1e-4, atol=1e-4)


def test_dbscan_gives_separated_cars_their_own_ids():
    rng = np.random.default_rng(0)
    car, person, road = TAXONOMY.id_of('car'), TAXONOMY.id_of('person'), TAXONOMY.id_of('road')
    parts = [
        (rng.uniform([4, -1, -1.5], [8.5, 1, 0], (400, 3)), car),  # a car ahead
        (rng.uniform([4, 4, -1.5], [8.5, 6, 0], (400, 3)), car),  # a car 3 m to its left
        (rng.uniform([-3, -0.3, -1.7], [-2.5, 0.3, 0.1], (100, 3)), person),
        (np.array([[-2.75, 0.0, 1.2]]), person),  # a stray return 1.1 m above the person: noise, joins it
        (rng.uniform([-20, -20, -1.8], [20, 20, -1.75], (3000, 3)), road),
    ]
    xyz = np.concatenate([p for p, _ in parts])
    labels = np.concatenate([np.full(len(p), label) for p, label in parts])
    instance = cluster_instances(xyz, labels, TAXONOMY.thing_ids, ClusteringConfig(eps=0.7, min_points=3))
    first_car, second_car, person_points = instance[:400], instance[400:800], instance[800:901]
    assert len(set(first_car)) == len(set(second_car)) == len(set(person_points)) == 1
    assert len({first_car[0], second_car[0], person_points[0]}) == 3 and 0 not in instance[:901]
    assert not instance[901:].any()
