"""A street's centreline: straight segments and arcs, with (s, d) street coordinates (s along, d to the left)."""
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Route:
    s: np.ndarray        # (M,) increasing arc length of the samples
    xy: np.ndarray       # (M, 2) world positions
    heading: np.ndarray  # (M,) unwrapped heading (rad)
    straight: tuple      # ((s0, s1), ...) straight stretches, where intersections may go

    @property
    def length(self) -> float:
        return float(self.s[-1] - self.s[0])

    @classmethod
    def straight_line(cls, origin, yaw: float, s0: float, s1: float) -> 'Route':
        """A straight street through `origin` along `yaw`, from s0 to s1 (s = 0 at origin)."""
        s = np.array([s0, s1], float)
        direction = np.array([np.cos(yaw), np.sin(yaw)])
        return cls(s, np.asarray(origin, float) + s[:, None] * direction, np.full(2, yaw), ((s0, s1),))

    @classmethod
    def random(cls, rng: np.random.Generator, length: float, step: float = 1.0) -> 'Route':
        """Straight stretches (40-150 m) alternating with arcs (radius 60-200 m, 15-70 degrees)."""
        curvature, straight, s_total = [], [], 0.0
        first = True
        while s_total < length:
            run = rng.uniform(60.0, 150.0) if first else rng.uniform(40.0, 150.0)
            straight.append((s_total, s_total + run))
            curvature.append((run, 0.0))
            s_total += run
            first = False
            if s_total >= length:
                break
            radius, angle = rng.uniform(60.0, 200.0), np.radians(rng.uniform(15.0, 70.0))
            curvature.append((radius * angle, rng.choice([-1.0, 1.0]) / radius))
            s_total += radius * angle
        s = np.arange(0.0, s_total + step, step)
        kappa = np.zeros_like(s)
        start = 0.0
        for run, k in curvature:
            kappa[(s >= start) & (s < start + run)] = k
            start += run
        heading = np.concatenate([[0.0], np.cumsum(kappa[:-1] * step)])
        xy = np.concatenate([[[0.0, 0.0]], np.cumsum(step * np.stack([np.cos(heading[:-1]), np.sin(heading[:-1])], 1),
                                                     0)])
        return cls(s, xy, heading, tuple(straight))

    def curvature(self, s: float) -> float:
        i = int(np.clip(np.searchsorted(self.s, s), 1, len(self.s) - 1))
        return float((self.heading[i] - self.heading[i - 1]) / (self.s[i] - self.s[i - 1]))

    def pose(self, s, d):
        """World (x, y, heading) of street coordinates s, d (arrays of equal shape)."""
        s, d = np.asarray(s, float), np.asarray(d, float)
        heading = np.interp(s, self.s, self.heading)
        # beyond either end the street continues straight
        beyond = np.clip(s, self.s[0], self.s[-1])
        overshoot = s - beyond
        x = np.interp(beyond, self.s, self.xy[:, 0]) + overshoot * np.cos(heading) - d * np.sin(heading)
        y = np.interp(beyond, self.s, self.xy[:, 1]) + overshoot * np.sin(heading) + d * np.cos(heading)
        return x, y, heading

    def polyline(self, s0: float, s1: float, d: float, z: float, step: float = 1.0) -> np.ndarray:
        """(K, 3) points along the street from s0 to s1 at lateral offset d and height z."""
        s = np.linspace(s0, s1, max(2, int(np.ceil((s1 - s0) / step)) + 1))
        x, y, _ = self.pose(s, np.full_like(s, d))
        return np.stack([x, y, np.full_like(s, z)], 1)

    def placement(self, s: float, d: float, z: float = 0.0, yaw: float = 0.0) -> np.ndarray:
        """4x4 world transform of a local frame at (s, d, z), x along the street (turned by yaw)."""
        x, y, heading = self.pose(s, d)
        angle = float(heading) + yaw
        c, si = np.cos(angle), np.sin(angle)
        return np.array([[c, -si, 0, float(x)], [si, c, 0, float(y)], [0, 0, 1, z], [0, 0, 0, 1.0]])
