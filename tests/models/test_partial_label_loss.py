"""The partial-label loss (coarse labels that allow a set of classes) against a brute-force reference."""
import numpy as np
import pytest
import torch

from perception.models.losses import PartialLabelLoss
from perception.taxonomy import load_taxonomy


def brute_force(logits: torch.Tensor, target: torch.Tensor, allowed: np.ndarray, weights: torch.Tensor) -> float:
    probability = logits.softmax(1)
    total = norm = 0.0
    for n, y, x in np.ndindex(*target.shape):
        label = int(target[n, y, x])
        if not allowed[label].any():
            continue
        mass = sum(float(probability[n, c, y, x]) for c in np.flatnonzero(allowed[label]))
        total += -np.log(mass) * float(weights[label])
        norm += float(weights[label])
    return total / norm


def test_matches_brute_force_on_camvid_mapping():
    camvid = load_taxonomy().camvid
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(2, 21, 5, 7, generator=generator) * 3
    target = torch.randint(0, 12, (2, 5, 7), generator=generator)
    weights = torch.rand(12, generator=generator) + 0.1
    loss = PartialLabelLoss(torch.from_numpy(camvid.allowed), weights)(logits, target)
    assert loss.item() == pytest.approx(brute_force(logits, target, camvid.allowed, weights), rel=1e-5)


def test_never_penalises_the_split_between_allowed_classes():
    allowed = torch.tensor([[True, True, False], [False, False, False]])  # label 0 = class 0 or 1; 1 = ignore
    loss = PartialLabelLoss(allowed)
    target = torch.zeros(1, 1, 1, dtype=torch.long)
    all_on_0 = torch.tensor([10.0, -10.0, -10.0]).view(1, 3, 1, 1)
    all_on_1 = torch.tensor([-10.0, 10.0, -10.0]).view(1, 3, 1, 1)
    on_2 = torch.tensor([-10.0, -10.0, 10.0]).view(1, 3, 1, 1)
    assert loss(all_on_0, target).item() < 1e-6 and loss(all_on_1, target).item() < 1e-6
    assert loss(on_2, target).item() > 19
    assert loss(on_2, torch.ones_like(target)).item() == 0.0  # ignore label: no loss (and a graph)


def test_rejects_an_allowed_ignore_row():
    with pytest.raises(ValueError, match='ignore'):
        PartialLabelLoss(torch.ones(3, 4, dtype=torch.bool))
