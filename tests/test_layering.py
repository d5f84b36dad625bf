"""The layering, checked on the import graph of the source (imports inside functions included, followed through
every perception module): the core library (core, models, preprocessing) knows nothing of ROS, not even the ROS-free
message layer; the simulator, evaluation, io and the message layer never reach rclpy, ros_utils or the nodes. Only
nodes, replay (its live player) and ros_utils import rclpy."""
import ast
from functools import lru_cache

import pytest

from perception.paths import PACKAGE_DIR

ROS_PACKAGES = {'rclpy', 'rcl_interfaces', 'tf2_ros', 'launch', 'launch_ros', 'rosidl_runtime_py'}  # and any *_msgs
CORE = ('core', 'models', 'preprocessing')
TOOLS = ('sim', 'eval', 'io', 'msgs')
NEVER = {'core': {'perception.msgs', 'perception.ros_utils', 'perception.nodes', 'perception.replay'},
         'tools': {'perception.ros_utils', 'perception.nodes', 'perception.replay'}}


def module_name(path) -> str:
    parts = path.relative_to(PACKAGE_DIR.parent).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


MODULES = {module_name(path): path for path in PACKAGE_DIR.rglob('*.py')}


@lru_cache(maxsize=None)
def imports(name: str) -> frozenset[str]:
    """Modules `name` imports: perception modules resolved to files, others as their top-level package."""
    found = set()
    for node in ast.walk(ast.parse(MODULES[name].read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            targets = [f'{node.module}.{alias.name}' for alias in node.names] + [node.module]
        else:
            continue
        for target in targets:
            if target.startswith('perception'):
                found.update(t for t in (target, target.rsplit('.', 1)[0]) if t in MODULES)
            else:
                found.add(target.split('.')[0])
    return frozenset(found)


def reachable(name: str) -> dict[str, str]:
    """Every module `name` imports directly or through other perception modules -> the module importing it."""
    seen, stack = {}, [name]
    while stack:
        current = stack.pop()
        for target in imports(current):
            if target not in seen:
                seen[target] = current
                if target in MODULES:
                    stack.append(target)
    return seen


def forbidden(name: str, packages: set[str]) -> list[str]:
    return sorted(f'{target} (imported by {via})' for target, via in reachable(name).items()
                  if target in ROS_PACKAGES or target.endswith('_msgs')
                  or any(target == p or target.startswith(p + '.') for p in packages))


@pytest.mark.parametrize('name', sorted(m for m in MODULES if m.split('.')[1:2] and m.split('.')[1] in CORE))
def test_the_core_never_imports_ros_or_the_layers_above(name):
    assert not forbidden(name, NEVER['core'])


@pytest.mark.parametrize('name', sorted(m for m in MODULES if m.split('.')[1:2] and m.split('.')[1] in TOOLS))
def test_simulator_evaluation_io_and_messages_never_import_rclpy(name):
    assert not forbidden(name, NEVER['tools'])


def test_the_check_sees_a_forbidden_import():
    """The graph follows perception imports to the ROS import behind them."""
    assert 'rclpy' in reachable('perception.nodes.common')
    assert any(f.startswith('rclpy') for f in forbidden('perception.nodes.camera_segmentation', set()))
    assert 'perception.msgs.codec' in reachable('perception.replay.replay')
    assert 'sensor_msgs' in reachable('perception.nodes.fusion')
