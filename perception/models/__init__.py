"""Neural networks: camera and LiDAR segmentation models, their layers and losses (import classes directly)."""
