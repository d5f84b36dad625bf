import itertools

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from perception.models.losses import SegmentationLoss, class_weights, dice_loss, distillation_loss
from perception.models.pointnet2 import PointNet2, PointNet2Config
from perception.models.sparse_unet import SparseUNet, SparseUNetConfig, spconv
from perception.preprocessing.voxelize import collate, grid_chunks, voxelize

ROAD, BUILDING, POLE, CAR = 0, 3, 6, 15


def _street_scene(seed: int, count: int = 6000):
    """Points (N, 4) and labels (N,): a noisy road plane, two car boxes, three poles and a building wall."""
    rng = np.random.default_rng(seed)
    parts = [(rng.uniform([-15, -15, -1.7], [15, 15, -1.7], (count // 2, 3)), ROAD),
             (rng.uniform([-14, 12, -1.7], [14, 12.3, 4.0], (count // 6, 3)), BUILDING)]
    for x, y in [(5, 3), (-6, -4)]:
        parts.append((rng.uniform([x - 2, y - 0.9, -1.6], [x + 2, y + 0.9, -0.2], (count // 8, 3)), CAR))
    for x, y in [(2, -6), (-3, 7), (8, -8)]:
        parts.append((rng.uniform([x - 0.1, y - 0.1, -1.7], [x + 0.1, y + 0.1, 2.5], (count // 30, 3)), POLE))
    xyz = np.concatenate([p for p, _ in parts]) + rng.normal(0, 0.02, (sum(len(p) for p, _ in parts), 3))
    labels = np.concatenate([np.full(len(p), label) for p, label in parts])
    intensity = rng.uniform(0, 1, (len(xyz), 1))
    return np.hstack([xyz, intensity]).astype(np.float32), labels


def _overfit(model, make_batch, steps: int) -> float:
    """Train on fresh batches of one scene, then return eval-mode accuracy on another draw of it."""
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loss_function = SegmentationLoss()
    for _ in range(steps):
        batch = make_batch()
        loss = loss_function(model(batch), batch.label)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    model.eval()
    with torch.no_grad():
        batch = make_batch()
        return (model(batch).argmax(dim=1) == batch.label).float().mean().item()


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_sparse_unet_overfits_a_street_scene():
    torch.manual_seed(0)
    points, labels = _street_scene(0)
    model = SparseUNet(SparseUNetConfig(num_classes=16, channels=(8, 16, 32), point_channels=8))
    accuracy = _overfit(model, lambda: voxelize(collate([points], [labels]), voxel_size=0.3), steps=60)
    assert accuracy > 0.97


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_sparse_unet_batches_clouds_independently():
    torch.manual_seed(0)
    points, labels = _street_scene(1, count=2000)
    model = SparseUNet(SparseUNetConfig(num_classes=16, channels=(8, 16), point_channels=0)).eval()
    with torch.no_grad():
        alone = model(voxelize(collate([points]), 0.3))
        together = model(voxelize(collate([points[:700], points]), 0.3))
    assert together.shape == (700 + len(points), 16)
    torch.testing.assert_close(together[700:], alone, atol=1e-4, rtol=1e-4)


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_slimming_keeps_the_channels_that_carry_the_output():
    """A network whose dropped channels are silenced (batch norm scale and shift 0) computes the same as its
    slimmed copy, whose every kept channel counts."""
    torch.manual_seed(0)
    channels, slimmed = (8, 16, 16, 16), (8, 12, 8, 6)
    model = SparseUNet(SparseUNetConfig(num_classes=16, channels=channels, point_channels=8)).eval()
    spaces = {s: [[f'down.{s - 1}.norm', f'encoder.{s - 1}.norm2'], [f'encoder.{s - 1}.conv1.norm']]
              + ([[f'up.{s}.norm'], [f'decoder.{s}.norm2', f'decoder.{s}.shortcut.1'], [f'decoder.{s}.conv1.norm']]
                 if s < len(channels) - 1 else []) for s in range(1, len(channels))}
    modules = dict(model.named_modules())
    with torch.no_grad():
        for s, groups in spaces.items():
            for norms in groups:
                dropped = torch.randperm(channels[s])[:channels[s] - slimmed[s]]
                for name in norms:
                    modules[name].weight.uniform_(0.5, 1.5)
                    modules[name].weight[dropped] = 0.0
                    modules[name].bias[dropped] = 0.0
    slim = SparseUNet(SparseUNetConfig(num_classes=16, channels=slimmed, point_channels=8)).eval()
    slim.load_state_dict(SparseUNet.slimmed_state_dict(model.state_dict(), channels, slimmed))
    batch = voxelize(collate([_street_scene(2, count=3000)[0]]), 0.3)
    with torch.no_grad():
        expected = model(batch)
        torch.testing.assert_close(slim(batch), expected, atol=1e-4, rtol=1e-4)
        slim_modules = dict(slim.named_modules())
        for name in ('down.1.norm', 'encoder.1.norm2'):  # silencing one kept channel changes the output
            slim_modules[name].weight[0] = slim_modules[name].bias[0] = 0.0
        assert not torch.allclose(slim(batch), expected, atol=1e-2)
    with pytest.raises(ValueError, match='cannot slim'):
        SparseUNet.slimmed_state_dict(model.state_dict(), channels, (4, 12, 8, 6))


@pytest.mark.skipif(spconv is None, reason='spconv is not installed')
def test_submanifold_convolution_matches_naive_loop():
    # Guards the CPU scatter fix in perception.models.sparse_unet (spconv's own scatter races across threads).
    points, _ = _street_scene(2, count=3000)
    batch = voxelize(collate([points]), 0.3)
    torch.manual_seed(0)
    conv = spconv.SubMConv3d(5, 8, 3, bias=False)
    voxel_of = {tuple(cell): row for row, cell in enumerate(batch.grid_coord.tolist())}
    expected = torch.zeros(len(voxel_of), 8)
    for (b, i, j, k), row in voxel_of.items():
        for di, dj, dk in itertools.product(range(3), repeat=3):
            neighbour = voxel_of.get((b, i + di - 1, j + dj - 1, k + dk - 1))
            if neighbour is not None:
                expected[row] += conv.weight[:, di, dj, dk].detach() @ batch.voxel_feat[neighbour]
    shape = (batch.grid_coord[:, 1:].amax(dim=0) + 8).tolist()  # larger than the extent, as in SparseUNet
    with torch.no_grad():
        for _ in range(3):
            out = conv(spconv.SparseConvTensor(batch.voxel_feat, batch.grid_coord, shape, 1))
            torch.testing.assert_close(out.features, expected, atol=1e-4, rtol=1e-4)


def test_pointnet2_overfits_a_street_scene():
    torch.manual_seed(0)
    points, labels = _street_scene(0)
    config = PointNet2Config(num_classes=16, num_centroids=(256, 64, 16), radii=(1.0, 2.5, 6.0), num_neighbours=16,
                             sa_channels=((16, 32), (32, 64), (64, 64)), fp_channels=((64, 64), (64, 32), (32, 32)))
    generator = torch.Generator().manual_seed(0)

    def make_batch():
        index = grid_chunks(torch.from_numpy(points[:, :3]), 0.2, 1024, generator).index[0].numpy()
        return collate([points[index]], [labels[index]])

    assert _overfit(PointNet2(config), make_batch, steps=120) > 0.95


def test_pointnet2_rejects_unequal_clouds():
    model = PointNet2(PointNet2Config(num_centroids=(8,), radii=(1.0,), sa_channels=((8,),), fp_channels=((8,),)))
    with pytest.raises(ValueError, match='equal size'):
        model(collate([np.zeros((10, 4)), np.zeros((12, 4))]))


def test_weighted_loss_matches_torch_cross_entropy():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 5, 4, 3, generator=generator)  # image-shaped: (N, C, H, W)
    target = torch.randint(0, 5, (2, 4, 3), generator=generator)
    target[0, 0] = 255
    weights = torch.rand(5, generator=generator) + 0.5
    expected = F.cross_entropy(logits, target, weight=weights, ignore_index=255)
    torch.testing.assert_close(SegmentationLoss(weights)(logits, target), expected)
    flat_logits = logits.movedim(1, -1).reshape(-1, 5)  # (N, C) point layout gives the same value
    torch.testing.assert_close(SegmentationLoss(weights)(flat_logits, target.reshape(-1)), expected)


def test_element_weights_scale_each_points_cross_entropy():
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(6, 4, generator=generator)
    target = torch.tensor([0, 1, 2, 3, 255, 1])
    class_weight = torch.tensor([1.0, 2.0, 0.5, 1.0])
    element_weight = torch.tensor([1.0, 3.0, 1.0, 5.0, 9.0, 2.0])  # 9.0 sits on the ignored point
    valid = target != 255
    per_point = F.cross_entropy(logits[valid], target[valid], reduction='none')
    combined = class_weight[target[valid]] * element_weight[valid]
    expected = (per_point * combined).sum() / combined.sum()
    torch.testing.assert_close(SegmentationLoss(class_weight)(logits, target, element_weight), expected)


def test_focal_and_dice_terms():
    target = torch.tensor([0, 1, 2, 255])
    confident = F.one_hot(torch.tensor([0, 1, 2, 0]), 3).float() * 8
    plain, focal = SegmentationLoss()(confident, target), SegmentationLoss(focal_gamma=2.0)(confident, target)
    assert 0 < focal < plain * 1e-2  # focal loss all but ignores well-classified points
    assert dice_loss(confident * 10, target) < 1e-3 < dice_loss(-confident, target)
    all_ignored = SegmentationLoss(dice_weight=1.0)(confident.requires_grad_(), torch.full((4,), 255))
    all_ignored.backward()
    assert all_ignored == 0


def test_class_weights_favour_rare_classes():
    counts = np.array([1e6, 1e4, 1e2, 0])
    for method in ('inverse_sqrt', 'log'):
        weights = class_weights(counts, method, max_weight=1000.0).numpy()
        assert weights[0] < weights[1] < weights[2] == weights[3]
        assert (weights[:3] * counts[:3]).sum() / counts.sum() == pytest.approx(1.0)
    assert class_weights(counts, 'inverse_sqrt', max_weight=2.0).max() == 2.0
    assert class_weights(counts, 'none').tolist() == [1.0] * 4
    with pytest.raises(ValueError):
        class_weights(counts, 'median')


def test_distillation_loss_is_zero_at_the_teacher_and_pulls_the_student_to_it():
    torch.manual_seed(0)
    teacher = torch.randn(50, 6) * 3
    assert distillation_loss(teacher, teacher, 2.0).item() == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(50, 6, requires_grad=True)
    optimizer = torch.optim.Adam([student], lr=0.1)
    losses = []
    for _ in range(200):
        loss = distillation_loss(student, teacher, 2.0)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.01 * losses[0]
    assert (student.argmax(dim=1) == teacher.argmax(dim=1)).all()
