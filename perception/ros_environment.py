"""Safe ROS 2 environment for every process this project starts: loopback-only discovery, the Fast DDS profile that
delivers large messages, and ROS_DOMAIN_IDs that concurrent runs on this machine do not share. No rclpy import."""
import fcntl
import itertools
import os
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from perception.paths import config_path

FASTDDS_PROFILE = 'fastdds_localhost.xml'
# 0 is everyone's default; above 101, Fast DDS ports can collide with Linux ephemeral ports.
DOMAIN_IDS = range(1, 102)
_DOMAIN_LOCK_DIR = Path(tempfile.gettempdir()) / 'perception-ros-domain-ids'
_reservation_counter = itertools.count(os.getpid())


def local_ros_environment(domain_id: int | None = None, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """A copy of `base` (default os.environ) with the safe defaults filled in where unset or empty.

    ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST (ROS_LOCALHOST_ONLY is ignored since Kilted),
    FASTDDS_DEFAULT_PROFILES_FILE=config/fastdds_localhost.xml, and ROS_DOMAIN_ID when `domain_id` is given.
    """
    defaults = {'ROS_AUTOMATIC_DISCOVERY_RANGE': 'LOCALHOST',
                'FASTDDS_DEFAULT_PROFILES_FILE': str(config_path(FASTDDS_PROFILE))}
    if domain_id is not None:
        defaults['ROS_DOMAIN_ID'] = str(domain_id)
    environment = dict(os.environ if base is None else base)
    environment.update({name: value for name, value in defaults.items() if not environment.get(name)})
    return environment


def apply_local_defaults(domain_id: int | None = None) -> dict[str, str]:
    """Fill the safe defaults into os.environ where unset (call before rclpy.init); returns what it set."""
    added = {name: value for name, value in local_ros_environment(domain_id).items() if os.environ.get(name) != value}
    os.environ.update(added)
    return added


@contextmanager
def reserved_domain_id() -> Iterator[int]:
    """Hold a ROS_DOMAIN_ID that no other caller of this function on this machine holds, until the block exits.

    Reservations are advisory file locks under the temp directory, freed on exit or when the process dies.
    Successive reservations in one process start from different ids, so a new test never meets the last one's peers.
    """
    _DOMAIN_LOCK_DIR.mkdir(exist_ok=True)
    start = next(_reservation_counter)
    for index in range(len(DOMAIN_IDS)):
        domain_id = DOMAIN_IDS[(start + index) % len(DOMAIN_IDS)]
        with open(_DOMAIN_LOCK_DIR / f'{domain_id}.lock', 'a') as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            yield domain_id
            return
    raise RuntimeError(f'all ROS domain ids {DOMAIN_IDS.start}-{DOMAIN_IDS.stop - 1} are reserved on this machine')
