"""ROS 2 nodes: thin adapters (message in, core call, message out). Topics are ~/input/* and ~/output/*,
remapped by launch/drive.launch.py or perception-drive."""
