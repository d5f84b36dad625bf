"""The perception graph: camera_segmentation, lidar_segmentation and fusion, configured by config/perception.yaml.

    ros2 launch perception drive.launch.py [use_sim_time:=true] [camera_image:=/my/camera/image_raw]
        [camera_info:=...] [points:=/my/lidar/points] [params_file:=...] [rviz:=true]

The remappings here match perception/nodes/graph.py (tests compare them); perception-drive runs the same graph
where launch is not installed.
"""
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.conditions import IfCondition
from launch.substitutions import LaunchConfiguration, PathJoinSubstitution
from launch_ros.actions import Node
from launch_ros.substitutions import FindPackageShare


def generate_launch_description():
    share = FindPackageShare('perception')
    arguments = [
        DeclareLaunchArgument('params_file', default_value=PathJoinSubstitution([share, 'config', 'perception.yaml']),
                              description='node parameters'),
        DeclareLaunchArgument('use_sim_time', default_value='false', description='follow /clock (bag replay)'),
        DeclareLaunchArgument('camera_image', default_value='/camera/image_raw'),
        DeclareLaunchArgument('camera_info', default_value='/camera/camera_info'),
        DeclareLaunchArgument('points', default_value='/lidar/points'),
        DeclareLaunchArgument('rviz', default_value='false', description='start RViz with config/perception.rviz'),
    ]
    params = [LaunchConfiguration('params_file'), {'use_sim_time': LaunchConfiguration('use_sim_time')}]
    camera_image, camera_info, points = (LaunchConfiguration(n) for n in ('camera_image', 'camera_info', 'points'))
    nodes = [
        Node(package='perception', executable='camera_segmentation', name='camera_segmentation', output='screen',
             parameters=params, remappings=[
                 ('~/input/image', camera_image), ('~/input/camera_info', camera_info),
                 ('~/output/labels', '/perception/camera/labels'),
                 ('~/output/confidence', '/perception/camera/confidence'),
                 ('~/output/overlay', '/perception/camera/overlay'),
                 ('~/output/panoptic', '/perception/camera/panoptic'),
                 ('~/input/lidar_accepted', '/perception/lidar/accepted')]),
        Node(package='perception', executable='lidar_segmentation', name='lidar_segmentation', output='screen',
             parameters=params, remappings=[
                 ('~/input/points', points), ('~/output/points', '/perception/lidar/points'),
                 ('~/output/accepted', '/perception/lidar/accepted')]),
        Node(package='perception', executable='fusion', name='fusion', output='screen', parameters=params,
             remappings=[
                 ('~/input/points', '/perception/lidar/points'), ('~/input/camera_info', camera_info),
                 ('~/input/camera/labels', '/perception/camera/labels'),
                 ('~/input/camera/confidence', '/perception/camera/confidence'),
                 ('~/input/camera/panoptic', '/perception/camera/panoptic'),
                 ('~/output/scene', '/perception/scene'), ('~/output/scene_markers', '/perception/scene_markers')]),
        Node(package='rviz2', executable='rviz2', name='rviz2', condition=IfCondition(LaunchConfiguration('rviz')),
             arguments=['-d', PathJoinSubstitution([share, 'config', 'perception.rviz'])],
             parameters=[{'use_sim_time': LaunchConfiguration('use_sim_time')}]),
    ]
    return LaunchDescription(arguments + nodes)
