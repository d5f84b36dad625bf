"""Procedural driving world: camera video and LiDAR sweeps with exact ground truth."""
