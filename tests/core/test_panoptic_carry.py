"""Panoptic carry-forward: on frames where the head does not run, the last head result moves along the optical flow
with its segment ids kept."""
from dataclasses import replace

import numpy as np

from perception.core.camera.panoptic import (INSTANCE_DIVISOR, carry_panoptic, encode_panoptic, panoptic_to_semantic,
                                             refresh_carried)
from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.taxonomy import load_taxonomy

TAXONOMY = load_taxonomy()


def test_carry_moves_segments_along_the_flow_and_keeps_their_ids():
    earlier = np.full((20, 30), 255 * INSTANCE_DIVISOR, np.int32)
    earlier[5:10, 4:9] = 13 * INSTANCE_DIVISOR + 1   # a thing (class 13, instance 1)
    earlier[12:, :] = 0                               # stuff (class 0)
    flow = np.zeros((20, 30, 2), np.float32)
    flow[..., 0], flow[..., 1] = -3.0, 2.0            # current(x, y) = earlier(x - 3, y + 2): moved 3 right, 2 up
    carried = carry_panoptic(earlier, flow)
    np.testing.assert_array_equal(carried[3:8, 7:12], 13 * INSTANCE_DIVISOR + 1)
    assert (carried == 13 * INSTANCE_DIVISOR + 1).sum() == 25
    np.testing.assert_array_equal(carried[10:18], 0)
    assert set(np.unique(carried)) == set(np.unique(earlier))


def test_carry_clamps_at_the_border():
    earlier = np.arange(12, dtype=np.int32).reshape(3, 4)
    flow = np.zeros((3, 4, 2), np.float32)
    flow[..., 0] = 10.0  # everything samples beyond the right edge
    np.testing.assert_array_equal(carried := carry_panoptic(earlier, flow), np.repeat(earlier[:, -1:], 4, 1))
    assert carried.dtype == np.int32


def test_segmenter_carries_the_key_frames_segments_along_a_known_shift(held_out_clip):
    image = held_out_clip[0].image
    config = replace(CameraSegmenterConfig(), device='cpu', panoptic_head_interval=100, panoptic_refresh_carried=False,
                     propagation=PropagationConfig(policy='fixed', interval=10))
    segmenter = CameraSegmenter(config)
    key = segmenter.process(image, 0)
    assert key.key_frame and not key.panoptic_carried and 'panoptic_head' in key.timing_ms
    shifted = np.ascontiguousarray(np.roll(image, 8, axis=1))  # the scene moves 8 pixels right
    carried = segmenter.process(shifted, 100_000_000)
    assert not carried.key_frame and carried.panoptic_carried
    assert 'panoptic_carry' in carried.timing_ms and 'panoptic_head' not in carried.timing_ms
    inner = (slice(16, -16), slice(24, -24))  # away from the wrapped border and the image edges
    agree = carried.panoptic[inner] == np.roll(key.panoptic, 8, axis=1)[inner]
    assert agree.mean() > 0.95, agree.mean()
    key_ids = {s['id']: s for s in key.segments}
    assert {s['id'] for s in carried.segments} <= set(key_ids)
    for segment in carried.segments:
        assert segment['class'] == key_ids[segment['id']]['class'] and segment['area'] == (
            carried.panoptic == segment['id']).sum()


def test_head_interval_one_runs_the_head_on_every_frame(held_out_clip):
    config = replace(CameraSegmenterConfig(), device='cpu', panoptic_head_interval=1,
                     propagation=PropagationConfig(policy='fixed', interval=10))
    segmenter = CameraSegmenter(config)
    results = [segmenter.process(frame.image, frame.stamp_ns) for frame in held_out_clip[:2]]
    assert [r.key_frame for r in results] == [True, False]
    assert not any(r.panoptic_carried for r in results)


def test_refresh_takes_stuff_from_the_labels_and_keeps_things_where_they_agree():
    """A carried map of road (stuff) with car 1 on the left; the current labels have moved on: sky over the top
    row, the car's right half now road, a new car (no carried instance) on the right."""
    road, sky, car = TAXONOMY.id_of('road'), TAXONOMY.id_of('sky'), TAXONOMY.id_of('car')
    carried = np.full((4, 8), encode_panoptic(road, 0), np.int32)
    carried[1:3, 0:4] = encode_panoptic(car, 1)
    labels = np.full((4, 8), road, np.uint8)
    labels[0] = sky
    labels[1:3, 0:2] = car
    labels[1:3, 6:8] = car
    confidence = np.full((4, 8), 0.5, np.float32)
    segments = [{'id': int(encode_panoptic(road, 0)), 'class': road, 'score': 0.9, 'area': 24, 'is_thing': False},
                {'id': int(encode_panoptic(car, 1)), 'class': car, 'score': 0.8, 'area': 8, 'is_thing': True}]
    refreshed, kept = refresh_carried(carried, segments, labels, confidence, TAXONOMY)
    assert (refreshed[0] == encode_panoptic(sky, 0)).all()
    assert (refreshed[1:3, 0:2] == encode_panoptic(car, 1)).all()  # the car where it still is, its id kept
    assert (refreshed[1:3, 2:6] == encode_panoptic(road, 0)).all()
    assert (refreshed[1:3, 6:8] == encode_panoptic(TAXONOMY.ignore_id, 0)).all()  # a car with no instance yet
    by_id = {segment['id']: segment for segment in kept}
    assert by_id[encode_panoptic(car, 1)]['area'] == 4 and by_id[encode_panoptic(car, 1)]['score'] == 0.8
    assert by_id[encode_panoptic(road, 0)]['area'] == 16
    assert by_id[encode_panoptic(sky, 0)] == {'id': encode_panoptic(sky, 0), 'class': sky, 'score': 0.5,
                                              'area': 8, 'is_thing': False}
    assert len(kept) == 3


def test_segmenter_refreshes_carried_segments_with_the_frames_labels(held_out_clip):
    config = replace(CameraSegmenterConfig(), device='cpu', panoptic_head_interval=100,
                     propagation=PropagationConfig(policy='fixed', interval=10))
    segmenter = CameraSegmenter(config)
    key = segmenter.process(held_out_clip[0].image, 0)
    result = segmenter.process(held_out_clip[1].image, 100_000_000)
    assert result.panoptic_carried
    stuff = ~TAXONOMY.is_thing[result.labels]
    assert (panoptic_to_semantic(result.panoptic)[stuff] == result.labels[stuff]).all()
    thing_ids = {s['id'] for s in key.segments if s['is_thing']}
    assert {s['id'] for s in result.segments if s['is_thing']} <= thing_ids
