"""Panoptic inference: a known answer on hand-made queries, invariants on random ones."""
import numpy as np
import pytest
import torch

from perception.core.camera.panoptic import (
    encode_panoptic, INSTANCE_DIVISOR, panoptic_inference, panoptic_to_instance, panoptic_to_semantic,
    PanopticInferenceConfig)
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()
K = TAXONOMY.num_classes
ROAD, SKY, CAR, PERSON = (TAXONOMY.id_of(name) for name in ('road', 'sky', 'car', 'person'))
VOID = TAXONOMY.ignore_id * INSTANCE_DIVISOR


def class_logits_for(classes: list[int], confidence: float = 10.0) -> torch.Tensor:
    """(Q, K+1) logits peaked at each query's class (K is "no object")."""
    logits = torch.zeros(len(classes), K + 1)
    logits[torch.arange(len(classes)), torch.tensor(classes)] = confidence
    return logits


def masks_from_boxes(boxes: list[tuple[int, int, int, int]], size=(16, 24)) -> torch.Tensor:
    """(Q, H, W) mask logits +10 inside each (top, bottom, left, right) box, -10 outside."""
    logits = torch.full((len(boxes), *size), -10.0)
    for query, (top, bottom, left, right) in enumerate(boxes):
        logits[query, top:bottom, left:right] = 10.0
    return logits


def scene():
    """Sky on top, road below in two halves (two queries), two cars, a person query too unsure to keep (alone at the
    bottom right) and a query predicting "no object"."""
    classes = [SKY, ROAD, ROAD, CAR, CAR, PERSON, K]
    boxes = [(0, 8, 0, 24), (8, 16, 0, 12), (8, 16, 12, 22), (6, 11, 2, 6), (6, 11, 14, 18), (8, 16, 22, 24),
             (0, 16, 0, 24)]
    class_logits = class_logits_for(classes)
    class_logits[3:5, CAR] = 12.0  # more confident than the road under them
    class_logits[5] = 0.0
    class_logits[5, PERSON] = 4.0  # p(person) = e^4 / (e^4 + 21) ~ 0.72
    return class_logits, masks_from_boxes(boxes)


def test_known_scene_merges_stuff_numbers_things_and_drops_unsure_queries():
    class_logits, mask_logits = scene()
    panoptic, segments = panoptic_inference(class_logits, mask_logits, TAXONOMY, (16, 24))
    assert panoptic.dtype == torch.int32 and panoptic.shape == (16, 24)
    expected = torch.full((16, 24), SKY * INSTANCE_DIVISOR, dtype=torch.int32)
    expected[8:] = ROAD * INSTANCE_DIVISOR
    expected[8:, 22:] = VOID
    expected[6:11, 2:6] = CAR * INSTANCE_DIVISOR + 1
    expected[6:11, 14:18] = CAR * INSTANCE_DIVISOR + 2
    torch.testing.assert_close(panoptic, expected)
    by_id = {s['id']: s for s in segments}
    assert sorted(by_id) == sorted(set(expected.unique().tolist()) - {VOID})
    assert by_id[ROAD * INSTANCE_DIVISOR]['area'] == 8 * 22 - 2 * 3 * 4
    assert by_id[CAR * INSTANCE_DIVISOR + 2] == {'id': CAR * INSTANCE_DIVISOR + 2, 'class': CAR, 'is_thing': True,
                                                 'area': 20, 'score': pytest.approx(1.0, abs=1e-3)}


def test_object_mask_threshold_drops_low_score_queries():
    class_logits, mask_logits = scene()
    lenient = PanopticInferenceConfig(object_mask_threshold=0.5)
    panoptic, segments = panoptic_inference(class_logits, mask_logits, TAXONOMY, (16, 24), lenient)
    assert PERSON in [s['class'] for s in segments]
    strict = PanopticInferenceConfig(object_mask_threshold=0.99)
    class_logits[3, CAR] = 3.0  # the first car drops below 0.99 as well
    panoptic, segments = panoptic_inference(class_logits, mask_logits, TAXONOMY, (16, 24), strict)
    assert [s['class'] for s in segments].count(CAR) == 1 and PERSON not in [s['class'] for s in segments]
    assert (panoptic[8:11, 2:6] == ROAD * INSTANCE_DIVISOR).all()  # the road below shows through


def test_overlap_threshold_drops_a_mostly_hidden_segment():
    # A confident car covered to 2/3 by a more confident person: 1/3 of the car's mask survives.
    class_logits = class_logits_for([PERSON, CAR])
    class_logits[1, CAR] = 8.0
    mask_logits = masks_from_boxes([(0, 16, 0, 16), (0, 16, 8, 20)])
    for threshold, car_kept in ((0.8, False), (0.3, True)):
        config = PanopticInferenceConfig(overlap_threshold=threshold)
        panoptic, segments = panoptic_inference(class_logits, mask_logits, TAXONOMY, (16, 24), config)
        assert (CAR in [s['class'] for s in segments]) == car_kept
        assert ((panoptic_to_semantic(panoptic) == CAR).any().item()) == car_kept
        assert (panoptic[:, 20:] == VOID).all()  # nobody's mask covers these columns


def test_nothing_kept_gives_an_all_void_map():
    panoptic, segments = panoptic_inference(class_logits_for([K, K]), torch.zeros(2, 4, 4), TAXONOMY, (8, 8))
    assert segments == [] and (panoptic == VOID).all()


@pytest.mark.parametrize('seed', range(6))
def test_invariants_on_random_predictions(seed):
    generator = torch.Generator().manual_seed(seed)
    queries = 12
    # Few distinct classes, so that stuff queries merge and things get numbered; coarse masks, so that they are blobs.
    classes = torch.tensor([ROAD, SKY, CAR, PERSON, K])[torch.randint(5, (queries,), generator=generator)]
    class_logits = class_logits_for(classes.tolist(), confidence=3.0) + torch.randn(queries, K + 1, generator=generator)
    mask_logits = torch.randn(queries, 4, 6, generator=generator).mul(6) - 3
    config = PanopticInferenceConfig(object_mask_threshold=0.3, overlap_threshold=0.5)
    panoptic, segments = panoptic_inference(class_logits, mask_logits, TAXONOMY, (12, 20), config)
    values, counts = panoptic.unique(return_counts=True)
    area_in_map = dict(zip(values.tolist(), counts.tolist()))
    ids = [s['id'] for s in segments]
    assert len(set(ids)) == len(ids)  # one entry per segment, so no pixel belongs to two
    assert set(area_in_map) - {VOID} == set(ids)
    assert all(area_in_map[s['id']] == s['area'] > 0 for s in segments)
    assert sum(s['area'] for s in segments) + area_in_map.get(VOID, 0) == 12 * 20
    instances = [s['id'] % INSTANCE_DIVISOR for s in segments if s['is_thing']]
    assert all(i > 0 for i in instances) and sorted(instances) == list(range(1, len(instances) + 1))
    for s in segments:
        assert s['class'] == s['id'] // INSTANCE_DIVISOR and s['is_thing'] == bool(TAXONOMY.is_thing[s['class']])
        assert s['is_thing'] or s['id'] % INSTANCE_DIVISOR == 0
        assert s['score'] > config.object_mask_threshold
    stuff_classes = [s['class'] for s in segments if not s['is_thing']]
    assert len(set(stuff_classes)) == len(stuff_classes)  # one segment per stuff class
    assert len(segments) >= 2 and VOID in area_in_map  # the seeds exercise a non-trivial case


def test_decode_helpers_round_trip_torch_and_numpy():
    semantic = np.array([[ROAD, CAR], [TAXONOMY.ignore_id, PERSON]], np.int32)
    instance = np.array([[0, 3], [0, 1]], np.int32)
    panoptic = encode_panoptic(semantic, instance)
    assert panoptic[1, 0] == VOID
    np.testing.assert_array_equal(panoptic_to_semantic(panoptic), semantic)
    np.testing.assert_array_equal(panoptic_to_instance(panoptic), instance)
    torch.testing.assert_close(panoptic_to_instance(torch.from_numpy(panoptic)), torch.from_numpy(instance))
