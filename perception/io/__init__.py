"""Recorded data in and out: rosbag2 bags read and written without rclpy."""
