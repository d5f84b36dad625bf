"""The camera following the LiDAR's accepted sweeps, without ROS: only their frames are segmented, whichever arrives
first; without accepted stamps (no LiDAR node) every frame is."""
from perception.nodes.following import LidarLedFrames

MS = 1_000_000
FRAME = 100 * MS  # 10 Hz


def test_without_a_lidar_every_frame_is_segmented():
    frames = LidarLedFrames(slop_ns=50 * MS, timeout_ns=1000 * MS)
    assert [frames.frame(i * FRAME, i, now_ns=i * FRAME) for i in range(5)] == [0, 1, 2, 3, 4]
    assert frames.skipped == 0


def test_only_the_accepted_sweeps_frames_are_segmented_whichever_comes_first():
    frames = LidarLedFrames(slop_ns=50 * MS, timeout_ns=1000 * MS)
    assert frames.accepted(0, now_ns=0) is None  # the sweep came first: its frame is awaited
    assert frames.frame(2 * MS, 'f0', now_ns=10 * MS) == 'f0'  # within the slop
    assert frames.frame(FRAME, 'f1', now_ns=FRAME) is None  # the LiDAR is busy: not needed (yet)
    assert frames.frame(2 * FRAME, 'f2', now_ns=2 * FRAME) is None
    assert frames.frame(3 * FRAME, 'f3', now_ns=3 * FRAME) is None
    assert frames.accepted(3 * FRAME, now_ns=3 * FRAME + MS) == 'f3'  # the frame came first
    assert frames.skipped == 2  # f1 and f2: the LiDAR moved past them
    assert frames.accepted(5 * FRAME, now_ns=4 * FRAME) is None
    assert frames.frame(4 * FRAME, 'f4', now_ns=4 * FRAME) is None  # not the wanted stamp (100 ms off)
    assert frames.frame(5 * FRAME, 'f5', now_ns=5 * FRAME) == 'f5'


def test_when_the_lidar_falls_silent_every_frame_is_segmented_again():
    frames = LidarLedFrames(slop_ns=50 * MS, timeout_ns=1000 * MS)
    frames.accepted(0, now_ns=0)
    assert frames.frame(FRAME, 'f1', now_ns=FRAME) is None
    assert frames.frame(11 * FRAME, 'f11', now_ns=11 * FRAME) == 'f11'  # 1.1 s without an accepted stamp


def test_memory_is_bounded():
    frames = LidarLedFrames(slop_ns=50 * MS, timeout_ns=10**12, keep=4)
    frames.accepted(-10 * FRAME, now_ns=0)
    for i in range(10):
        frames.frame(i * FRAME, i, now_ns=0)
    assert len(frames.frames) == 4 and frames.skipped == 6
    assert frames.accepted(9 * FRAME, now_ns=0) == 9 and frames.skipped == 9 and not frames.frames
