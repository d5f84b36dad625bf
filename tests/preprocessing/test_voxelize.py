import numpy as np
import pytest
import torch

from perception.preprocessing.voxelize import (
    POINT_FEATURES, collate, grid_chunks, valid_point_mask, voxelize)


def _random_cloud(rng, count, extent=10.0):
    points = rng.uniform(-extent, extent, (count, 4)).astype(np.float32)
    points[:, 3] = rng.uniform(0, 1, count)
    return points


def test_collate_concatenates_with_offsets_and_features():
    rng = np.random.default_rng(0)
    clouds = [_random_cloud(rng, 5), _random_cloud(rng, 0), _random_cloud(rng, 3)]
    labels = [np.arange(5), np.arange(0), np.arange(3)]
    batch = collate(clouds, labels)
    assert batch.offset.tolist() == [5, 5, 8]
    assert batch.batch_index().tolist() == [0] * 5 + [2] * 3
    assert batch.feat.shape == (8, len(POINT_FEATURES))
    np.testing.assert_allclose(batch.coord.numpy(), np.concatenate(clouds)[:, :3])
    np.testing.assert_allclose(batch.feat[:, 4].numpy(), np.linalg.norm(np.concatenate(clouds)[:, :3], axis=1),
                               rtol=1e-6)
    assert batch.label.tolist() == [0, 1, 2, 3, 4, 0, 1, 2]


def test_voxelize_known_answer():
    # Three points share the voxel [0, 0.5)^3, one sits alone in [0.5, 1) x [0, 0.5)^2, one at negative coordinates.
    points = np.array([[0.1, 0.1, 0.1, 0.0], [0.2, 0.3, 0.4, 0.3], [0.45, 0.05, 0.2, 0.6],
                       [0.7, 0.1, 0.1, 1.0], [-0.2, -0.7, 0.3, 0.5]], np.float32)
    batch = voxelize(collate([points]), voxel_size=0.5)
    p2v = batch.point_to_voxel
    assert p2v[0] == p2v[1] == p2v[2] and len(set(p2v.tolist())) == 3
    cells = {tuple(row) for row in batch.grid_coord.tolist()}
    # Cells relative to the cloud's smallest cell (-1, -2, 0).
    assert cells == {(0, 1, 2, 0), (0, 2, 2, 0), (0, 0, 0, 0)}
    np.testing.assert_allclose(batch.voxel_feat[p2v[0], :4].numpy(), points[:3].mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(batch.voxel_feat[p2v[3], :4].numpy(), points[3], rtol=1e-6)


def test_voxelize_devoxelize_round_trip():
    rng = np.random.default_rng(1)
    clouds = [_random_cloud(rng, 2000), _random_cloud(rng, 1500)]
    voxel_size = 0.7
    batch = voxelize(collate(clouds), voxel_size)
    coord, p2v, grid = batch.coord, batch.point_to_voxel, batch.grid_coord.long()
    # Every point lies in its voxel's cube (grid offsets are per cloud: compare within each cloud).
    cells = torch.floor(coord / voxel_size).long()
    for b, (start, end) in enumerate([(0, 2000), (2000, 3500)]):
        assert (grid[p2v[start:end], 0] == b).all()
        shift = cells[start:end] - grid[p2v[start:end], 1:]
        assert (shift == shift[0]).all()
    # Voxels are unique per cloud and devoxelising the voxel means reproduces per-voxel point means.
    assert len(torch.unique(grid, dim=0)) == len(grid)
    devoxelized = batch.voxel_feat[p2v]
    for voxel in torch.unique(p2v)[:50]:
        members = batch.feat[p2v == voxel]
        torch.testing.assert_close(devoxelized[p2v == voxel], members.mean(0).expand_as(members))
    # The same coordinates in two clouds never share a voxel.
    twice = voxelize(collate([clouds[0], clouds[0]]), voxel_size)
    assert twice.point_to_voxel[2000:].min() > twice.point_to_voxel[:2000].max()
    assert len(twice.grid_coord) == 2 * len(voxelize(collate([clouds[0]]), voxel_size).grid_coord)


def test_grid_chunks_cover_every_voxel_once_and_spread_back():
    rng = np.random.default_rng(2)
    coord = torch.from_numpy(_random_cloud(rng, 5000)[:, :3])
    chunks = grid_chunks(coord, voxel_size=1.5, chunk_size=256, generator=torch.Generator().manual_seed(0))
    num_chunks, chunk_size = chunks.index.shape
    assert chunk_size == 256 and num_chunks == -(-chunks.num_voxels // 256)
    sampled_voxels = chunks.point_to_voxel[chunks.index.reshape(-1)]
    assert len(torch.unique(sampled_voxels)) == chunks.num_voxels
    # The first num_voxels samples hold each voxel exactly once; the rest are repeats.
    assert len(torch.unique(sampled_voxels[:chunks.num_voxels])) == chunks.num_voxels
    spread = chunks.to_points(sampled_voxels[:, None].float())
    torch.testing.assert_close(spread[:, 0], chunks.point_to_voxel.float())


def test_grid_chunks_pad_tiny_cloud():
    chunks = grid_chunks(torch.zeros(1, 3), voxel_size=0.2, chunk_size=8)
    assert chunks.index.tolist() == [[0] * 8]


@pytest.mark.parametrize('points, expected', [
    ([[1.0, 0, 0, 0.5]], True),
    ([[np.nan, 0, 0, 0.5]], False),
    ([[1.0, 0, 0, np.inf]], False),
    ([[0.1, 0, 0, 0.5]], False),
    ([[300.0, 0, 0, 0.5]], False),
])
def test_valid_point_mask(points, expected):
    assert valid_point_mask(np.array(points, np.float32), min_range=0.5, max_range=100.0).tolist() == [expected]
