"""Evaluation metrics for semantic and panoptic segmentation of camera images and LiDAR point clouds."""
