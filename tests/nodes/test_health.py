"""A node's health on /diagnostics without ROS: which level each situation earns, per-cause counting of rejected
inputs, and periods that start afresh."""
import cv2
import pytest

from perception.msgs.diagnostics import ERROR, OK, WARN, NodeHealth

S = 1_000_000_000


@pytest.fixture
def health():
    return NodeHealth({'image': 2.0, 'camera_info': 2.0}, latency_budget_ms=300.0, now_ns=0)


def feed(health, now_ns, latency_ms=100.0):
    for name in ('image', 'camera_info'):
        health.received(name, now_ns)
    health.processed({'backbone': 20.0, 'total': 40.0}, latency_ms, input_age_ms=5.0)


def test_fresh_inputs_within_budget_are_ok(health):
    feed(health, 1 * S)
    level, message, timing, counters = health.status(1 * S)
    assert (level, message) == (OK, 'ok')
    assert timing == {'backbone': 20.0, 'total': 40.0, 'latency': 100.0, 'input_age': 5.0}
    assert counters == {'received': 2, 'processed': 1, 'dropped': 0, 'rejected': 0}


def test_silent_inputs_are_an_error_from_start_up_on(health):
    level, message, _, _ = health.status(int(2.5 * S))
    assert level == ERROR and 'no image for 2.5 s' in message and 'no camera_info' in message
    health.received('image', 3 * S)
    level, message, _, _ = health.status(int(3.5 * S))
    assert level == ERROR and 'no image' not in message and 'no camera_info for 3.5 s' in message


def test_rejected_inputs_are_errors_counted_per_cause_and_new_causes_reported_once(health):
    assert health.rejected('image', ValueError('image of 4x4 pixels is too small'))
    assert not health.rejected('image', ValueError('image of 2x2 pixels is too small'))
    assert health.rejected('image', cv2.error('flow failed'))
    assert health.rejected('camera_info', ValueError('K has NaN'))
    feed(health, 1 * S)
    level, message, _, counters = health.status(1 * S)
    assert level == ERROR
    assert 'rejected image.ValueError: image of 4x4 pixels is too small' in message
    assert 'rejected image.cv2.error' in message and 'rejected camera_info.ValueError: K has NaN' in message
    assert counters['rejected'] == 4 and counters['rejected.image.ValueError'] == 2
    assert counters['rejected.image.cv2.error'] == 1 and counters['rejected.camera_info.ValueError'] == 1
    feed(health, 2 * S)
    level, _, _, counters = health.status(2 * S)  # a new period: no new rejection, totals kept
    assert level == OK and counters['rejected.image.ValueError'] == 2


def test_dropped_inputs_and_latency_over_budget_are_warnings(health):
    feed(health, 1 * S)
    health.dropped(3)
    level, message, _, counters = health.status(1 * S)
    assert level == WARN and 'cannot keep up: dropped 3 of 2 inputs (processing 40 ms)' in message
    assert counters['dropped'] == 3
    feed(health, 2 * S, latency_ms=450.0)
    level, message, timing, _ = health.status(2 * S)
    assert level == WARN and message == 'latency 450 ms over the 300 ms budget' and timing['latency'] == 450.0
    feed(health, 3 * S)
    health.warn('LiDAR-only scene (no camera frame within the slop)')
    health.warn('LiDAR-only scene (no camera frame within the slop)')
    assert health.status(3 * S)[:2] == (WARN, 'LiDAR-only scene (no camera frame within the slop)')
    feed(health, 4 * S)
    assert health.status(4 * S)[0] == OK


def test_errors_outrank_warnings_and_both_are_in_the_message(health):
    health.received('image', 3 * S)
    health.dropped()
    level, message, _, _ = health.status(3 * S)
    assert level == ERROR and message.startswith('no camera_info') and 'cannot keep up' in message
