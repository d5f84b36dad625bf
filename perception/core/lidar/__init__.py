"""LiDAR pipeline without ROS: semantic segmentation of sweeps and instance clustering of thing points."""
