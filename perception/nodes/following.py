"""Which camera frames to segment when the LiDAR leads (camera_segmentation `sync.follow_lidar`).

The fusion pairs each segmented sweep with the camera frame of the same stamp; frames between the sweeps the LiDAR
node takes are never used there. Following the stamps the LiDAR node publishes when it starts a sweep, the camera
segments just those frames (whichever of frame and stamp arrives first), leaving the CPU to the LiDAR. While no
stamp has come for `timeout_ns` (no LiDAR node), every frame is segmented.
"""
from collections import OrderedDict, deque
from typing import Any


class LidarLedFrames:
    """`frame(stamp, item, now)` and `accepted(stamp, now)` each return the item to segment now, or None. Stamps and
    `now` in nanoseconds (the node clock); `keep` frames and pending stamps are remembered; `skipped` counts the
    frames let go unsegmented."""

    def __init__(self, slop_ns: int, timeout_ns: int, keep: int = 16):
        self.slop_ns, self.timeout_ns, self.keep = slop_ns, timeout_ns, keep
        self.frames: OrderedDict[int, Any] = OrderedDict()  # stamp -> frame, not yet wanted
        self.wanted: deque[int] = deque(maxlen=keep)  # accepted stamps whose frame has not come
        self.last_accepted_ns: int | None = None
        self.skipped = 0

    def following(self, now_ns: int) -> bool:
        return self.last_accepted_ns is not None and now_ns - self.last_accepted_ns <= self.timeout_ns

    def frame(self, stamp_ns: int, item, now_ns: int):
        if not self.following(now_ns):
            return item
        for wanted in self.wanted:
            if abs(wanted - stamp_ns) <= self.slop_ns:
                self.wanted.remove(wanted)
                return item
        self.frames[stamp_ns] = item
        while len(self.frames) > self.keep:
            self.frames.popitem(last=False)
            self.skipped += 1
        return None

    def accepted(self, stamp_ns: int, now_ns: int):
        self.last_accepted_ns = now_ns
        nearest = min(self.frames, key=lambda stamp: abs(stamp - stamp_ns), default=None)
        if nearest is not None and abs(nearest - stamp_ns) <= self.slop_ns:
            for older in [stamp for stamp in self.frames if stamp < nearest]:  # the LiDAR has moved past them
                del self.frames[older]
                self.skipped += 1
            return self.frames.pop(nearest)
        self.wanted.append(stamp_ns)
        return None
