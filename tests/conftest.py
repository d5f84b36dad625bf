"""Shared fixtures. The safe ROS environment (loopback discovery, Fast DDS profile) is applied at import, before
any test can initialise rclpy; each ROS test gets its own ROS_DOMAIN_ID, reserved machine-wide."""
import gc

import pytest

from perception.ros_environment import apply_local_defaults, local_ros_environment, reserved_domain_id

apply_local_defaults()


@pytest.fixture
def ros_domain_id():
    """A ROS_DOMAIN_ID no concurrent test on this machine uses."""
    with reserved_domain_id() as domain_id:
        yield domain_id


@pytest.fixture
def ros_context(ros_domain_id):
    """An rclpy Context initialised on the test's domain and shut down after it."""
    rclpy = pytest.importorskip('rclpy')
    context = rclpy.Context()
    rclpy.init(context=context, domain_id=ros_domain_id)
    yield context
    context.try_shutdown()
    # rclpy prints a callback's exception nobody fetched when its Task is collected: collect here, so that it lands
    # in this test's teardown and not in the stderr of whichever later test the garbage collector happens to run in
    gc.collect()


@pytest.fixture
def ros_env(ros_domain_id) -> dict[str, str]:
    """Environment for a subprocess that joins the test's domain."""
    return {**local_ros_environment(), 'ROS_DOMAIN_ID': str(ros_domain_id)}


@pytest.fixture(scope='session')
def held_out_clip():
    """Four consecutive frames of an eval-seed drive (never trained on) for the shipped models' accuracy floors."""
    from perception.sim.simulator import DriveSimulator
    sim = DriveSimulator(3005, 30)
    return [sim.frame(i) for i in (10, 11, 12, 13)]
