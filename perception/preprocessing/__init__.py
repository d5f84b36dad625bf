"""Network inputs built from raw sensor data: LiDAR voxelisation, grid sampling and offset batching."""
