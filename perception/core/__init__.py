"""ROS-free core: plain functions and classes over numpy arrays and torch tensors."""
