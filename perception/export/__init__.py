"""Deployment: the camera network exported to ONNX (fp32 and post-training INT8), run by ONNX Runtime or OpenVINO
behind the same `features` / `semantic` / `panoptic` split as the PyTorch network; the LiDAR PointNet++ exported
likewise (`perception-export`). Optional: `make setup-deploy`."""
