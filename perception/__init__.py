"""Autonomous-driving perception: camera and LiDAR segmentation fused into a labeled 3D scene."""
