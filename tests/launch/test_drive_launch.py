"""launch/drive.launch.py against the graph definition, the parameter file and the installed executables.

launch_ros is not on PyPI: where it is importable (a ROS 2 distribution) the launch description is loaded and its
nodes inspected; everywhere, the file's Node(...) declarations are read statically and compared with
perception/nodes/graph.py, config/perception.yaml and setup.py."""
import ast
import importlib.util
import re

import pytest

from perception.io import topics as T
from perception.nodes.graph import NODES, remappings
from perception.paths import PACKAGE_DIR, share_dir

LAUNCH = share_dir() / 'launch' / 'drive.launch.py'
SENSOR_ARGUMENTS = {'camera_image': T.CAMERA_IMAGE, 'camera_info': T.CAMERA_INFO, 'points': T.LIDAR_POINTS}


def _literal(node: ast.AST, arguments: dict):
    """A string constant, or the default of the launch argument a LaunchConfiguration names."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return arguments[node.id]
    raise AssertionError(f'unexpected expression in drive.launch.py: {ast.unparse(node)}')


def launch_declarations():
    tree = ast.parse(LAUNCH.read_text())
    defaults = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'DeclareLaunchArgument':
            keywords = {k.arg: k.value for k in call.keywords}
            if isinstance(keywords.get('default_value'), ast.Constant):
                defaults[call.args[0].value] = keywords['default_value'].value
    # camera_image, camera_info, points = (LaunchConfiguration(n) for n in (...)): names -> argument defaults
    variables = {name: defaults[name] for name in SENSOR_ARGUMENTS}
    nodes = {}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, 'id', '') == 'Node':
            keywords = {k.arg: k.value for k in call.keywords}
            if keywords['package'].value != 'perception':
                continue
            remaps = [tuple(_literal(e, variables) for e in pair.elts) for pair in keywords['remappings'].elts]
            nodes[keywords['name'].value] = {'executable': keywords['executable'].value, 'remappings': remaps,
                                             'parameters': ast.unparse(keywords['parameters'])}
    return defaults, nodes


def test_launch_arguments_default_to_the_drive_topics_and_parameter_file():
    defaults, _ = launch_declarations()
    for name, topic in SENSOR_ARGUMENTS.items():
        assert defaults[name] == topic
    assert defaults['use_sim_time'] == 'false'
    assert "'config', 'perception.yaml'" in LAUNCH.read_text()


def test_launch_nodes_match_the_graph_definition():
    _, nodes = launch_declarations()
    assert set(nodes) == set(NODES)
    expected = remappings()
    for name, node in nodes.items():
        assert node['executable'] == name
        assert sorted(node['remappings']) == sorted(expected[name]), name
        assert node['parameters'] == 'params'  # the parameter file plus use_sim_time


def test_every_launched_executable_is_a_console_script():
    setup = (PACKAGE_DIR.parent / 'setup.py').read_text()
    scripts = dict(re.findall(r"'([\w-]+) = (perception\.[\w.]+:main)'", setup))
    for name in NODES:
        module = scripts[name].split(':')[0]
        assert importlib.util.find_spec(module) is not None


@pytest.mark.skipif(importlib.util.find_spec('launch_ros') is None, reason='launch_ros is not installed (PyPI ROS)')
def test_launch_description_loads_with_launch_ros():
    from launch.launch_description_sources import get_launch_description_from_python_launch_file
    from launch_ros.actions import Node
    description = get_launch_description_from_python_launch_file(str(LAUNCH))
    launched = [e for e in description.entities if isinstance(e, Node)]
    assert {n.node_executable for n in launched} >= set(NODES)
