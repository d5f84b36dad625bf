"""The ROS-free message layer: numpy <-> ROS messages (rclpy messages and rosbags dataclasses alike) and the
adapters between messages and the core's inputs and outputs. Nodes and offline replay call the same adapters, so
live and offline runs cannot drift; nothing here imports rclpy."""
