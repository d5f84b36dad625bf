"""The one conversion point between ROS messages and numpy, plus QoS profiles and the safe ROS environment."""
