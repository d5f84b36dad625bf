"""The code passes flake8 (setup.cfg: max line length 120), the way ament_flake8 runs as a test in ROS packages."""
import subprocess
import sys

from perception.paths import PACKAGE_DIR


def test_flake8_is_clean():
    root = PACKAGE_DIR.parent
    result = subprocess.run([sys.executable, '-m', 'flake8', 'perception', 'tests', 'benchmarks', 'launch',
                             'setup.py'], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
