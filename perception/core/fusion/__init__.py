"""Fusion: LiDAR points projected into the camera, class evidence and instances fused into one 3D scene."""
