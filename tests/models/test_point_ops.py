import numpy as np
import pytest
import torch

from perception.models import point_ops
from perception.models.point_ops import ball_query, farthest_point_sampling, group, three_nn_interpolate


def _naive_fps(xyz, num_samples):
    chosen = [0]
    nearest = np.full(len(xyz), np.inf)
    for _ in range(num_samples - 1):
        nearest = np.minimum(nearest, ((xyz - xyz[chosen[-1]]) ** 2).sum(1))
        chosen.append(int(np.argmax(nearest)))
    return chosen


def _naive_ball_query(xyz, centre, radius, k):
    distance = np.sqrt(((xyz - centre) ** 2).sum(1))
    inside = [i for i in np.argsort(distance) if distance[i] <= radius][:k]
    nearest = int(np.argmin(distance))
    inside = inside or [nearest]
    return inside + [inside[0]] * (k - len(inside))


def _naive_interpolate(unknown, known, features):
    out = []
    for point in unknown:
        distance = np.sqrt(((known - point) ** 2).sum(1))
        nearest = np.argsort(distance)[:3]
        weight = 1 / (distance[nearest] + 1e-8)
        out.append((features[nearest] * weight[:, None]).sum(0) / weight.sum())
    return np.array(out)


def test_farthest_point_sampling_matches_naive_loop():
    xyz = torch.rand(3, 500, 3, generator=torch.Generator().manual_seed(0)) * 20
    samples = farthest_point_sampling(xyz, 64)
    for b in range(3):
        assert samples[b].tolist() == _naive_fps(xyz[b].double().numpy(), 64)


def test_farthest_point_sampling_more_samples_than_points():
    samples = farthest_point_sampling(torch.rand(1, 4, 3), 7)[0].tolist()
    assert sorted(samples[:4]) == [0, 1, 2, 3] and samples[4:] == [0, 0, 0]


@pytest.mark.parametrize('small_chunks', [False, True])
def test_ball_query_matches_naive_loop(monkeypatch, small_chunks):
    if small_chunks:  # exercise the chunked distance computation
        monkeypatch.setattr(point_ops, '_PAIRS_PER_CHUNK', 1000)
    generator = torch.Generator().manual_seed(1)
    xyz = torch.rand(2, 400, 3, generator=generator) * torch.tensor([10.0, 10.0, 2.0])
    centres = torch.cat([xyz[:, :30], torch.rand(2, 10, 3, generator=generator) * 30 - 10], dim=1)  # some far away
    index = ball_query(xyz, centres, radius=1.0, num_neighbours=16)
    assert index.shape == (2, 40, 16)
    for b in range(2):
        for s in range(40):
            expected = _naive_ball_query(xyz[b].double().numpy(), centres[b, s].double().numpy(), 1.0, 16)
            assert index[b, s].tolist() == expected


def test_blockwise_neighbour_search_matches_naive_loop():
    # Many queries (several x blocks), a short reach (many fall back to the exhaustive search) and far centres.
    generator = torch.Generator().manual_seed(3)
    xyz = torch.rand(1, 3000, 3, generator=generator) * torch.tensor([60.0, 60.0, 3.0])
    centres = torch.cat([xyz[:, :700], torch.rand(1, 100, 3, generator=generator) * 200 - 100], dim=1)
    index = ball_query(xyz, centres, radius=2.0, num_neighbours=8)
    points = xyz[0].double().numpy()
    for s in range(800):
        assert index[0, s].tolist() == _naive_ball_query(points, centres[0, s].double().numpy(), 2.0, 8)
    known, features = xyz[:, ::10], torch.randn(1, 300, 2, generator=generator)
    expected = _naive_interpolate(centres[0].double().numpy(), known[0].double().numpy(), features[0].double().numpy())
    np.testing.assert_allclose(three_nn_interpolate(centres, known, features, reach=1.0)[0].numpy(), expected,
                               rtol=1e-4, atol=1e-5)


def test_ball_query_with_fewer_points_than_neighbours():
    xyz = torch.tensor([[[0.0, 0, 0], [0.5, 0, 0]]])
    assert ball_query(xyz, xyz[:, :1], radius=1.0, num_neighbours=4).tolist() == [[[0, 1, 0, 0]]]


def test_group_offsets_are_scaled_and_features_follow():
    xyz = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 2.0, 0]]])
    features = torch.tensor([[[10.0], [11.0], [12.0]]])
    grouped = group(xyz, features, xyz[:, :1], torch.tensor([[[0, 1, 2]]]), radius=2.0)
    assert grouped.shape == (1, 1, 3, 4)
    torch.testing.assert_close(grouped[0, 0], torch.tensor([[0.0, 0, 0, 10], [0.5, 0, 0, 11], [0, 1.0, 0, 12]]))


def test_three_nn_interpolation_matches_naive_loop():
    generator = torch.Generator().manual_seed(2)
    unknown = torch.rand(2, 200, 3, generator=generator) * 5
    known = torch.rand(2, 50, 3, generator=generator) * 5
    features = torch.randn(2, 50, 6, generator=generator, requires_grad=True)
    out = three_nn_interpolate(unknown, known, features)
    for b in range(2):
        expected = _naive_interpolate(unknown[b].double().numpy(), known[b].double().numpy(),
                                      features[b].detach().double().numpy())
        np.testing.assert_allclose(out[b].detach().numpy(), expected, rtol=1e-4, atol=1e-5)
    out.sum().backward()
    torch.testing.assert_close(features.grad.sum(), torch.tensor(2 * 200 * 6.0))  # weights sum to 1 per point


def test_three_nn_interpolation_on_a_known_point_copies_its_features():
    known = torch.tensor([[[0.0, 0, 0], [1.0, 0, 0], [0, 1.0, 0], [5.0, 5, 5]]])
    features = torch.arange(4.0).view(1, 4, 1)
    out = three_nn_interpolate(known[:, 1:2], known, features)
    torch.testing.assert_close(out, torch.tensor([[[1.0]]]), atol=1e-5, rtol=0)
