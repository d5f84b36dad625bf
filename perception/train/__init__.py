"""Training scripts: `perception-train camera | panoptic | lidar ...` (see perception/train/cli.py)."""
