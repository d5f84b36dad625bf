"""What needs rclpy: QoS profiles, node parameters declared from the schema, and the rosbags <-> rclpy bridge.
The ROS-free message layer is perception.msgs; the process environment is perception.ros_environment."""
