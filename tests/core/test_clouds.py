"""Grouping a sweep's points by id (instances, clusters) in one sort."""
import numpy as np

from perception.core.clouds import point_groups


def test_point_groups_equal_one_mask_per_id():
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 40, 5000).astype(np.uint32)
    selected = (ids > 0) & (rng.random(5000) < 0.7)
    groups = point_groups(ids, selected)
    expected = [(int(i), np.flatnonzero(selected & (ids == i))) for i in np.unique(ids[selected])]
    assert [g[0] for g in groups] == [e[0] for e in expected]
    assert all(np.array_equal(g[1], e[1]) for g, e in zip(groups, expected))
    assert point_groups(ids, np.zeros(5000, bool)) == []
