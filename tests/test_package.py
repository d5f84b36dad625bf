"""The package installs like an ament_python package: with pip, the resource marker, package.xml, launch/ and
config/ land under share/perception where ament_index finds them, and the console scripts exist."""
import ast
import subprocess
import sys
import sysconfig
import xml.etree.ElementTree as ET

import pytest

from perception.paths import PACKAGE_DIR


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    prefix = tmp_path_factory.mktemp('prefix')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--quiet', '--no-deps', '--no-build-isolation',
                    '--ignore-installed',  # else pip uninstalls this checkout's editable install first
                    '--prefix', str(prefix), str(PACKAGE_DIR.parent)], check=True, capture_output=True)
    site = sysconfig.get_path('purelib', vars={'base': str(prefix), 'platbase': str(prefix)})
    return prefix, site


def test_share_directory_holds_launch_config_and_marker(installed):
    prefix, _ = installed
    share = prefix / 'share' / 'perception'
    for path in ('package.xml', 'launch/drive.launch.py', 'config/classes.yaml', 'config/perception.yaml',
                 'config/schema/perception.schema.json', 'config/perception.rviz', 'config/fastdds_localhost.xml'):
        assert (share / path).is_file(), path
    assert (prefix / 'share/ament_index/resource_index/packages/perception').is_file()
    scripts = {p.name for p in (prefix / 'bin').iterdir()}
    assert {'camera_segmentation', 'lidar_segmentation', 'fusion', 'perception-drive', 'perception-sim',
            'perception-replay', 'perception-play', 'perception-train', 'perception-demo'} <= scripts


def test_installed_package_finds_its_share_through_the_ament_index(installed):
    prefix, site = installed
    code = ('from perception.paths import share_dir, PACKAGE_DIR; from perception.taxonomy import load_taxonomy; '
            'print(PACKAGE_DIR); print(share_dir()); print(load_taxonomy().num_classes)')
    out = subprocess.run([sys.executable, '-c', code], check=True, capture_output=True, text=True, cwd=prefix,
                         env={'PYTHONPATH': site, 'AMENT_PREFIX_PATH': str(prefix), 'PATH': '/usr/bin:/bin'}).stdout
    package_dir, share, classes = out.split()
    assert package_dir.startswith(site)
    assert share == str(prefix / 'share' / 'perception')
    assert int(classes) >= 21


def test_setup_py_and_package_xml_give_the_same_version():
    root = PACKAGE_DIR.parent
    setup_call = next(node for node in ast.walk(ast.parse((root / 'setup.py').read_text()))
                      if isinstance(node, ast.Call) and getattr(node.func, 'id', '') == 'setup')
    version = next(k.value.value for k in setup_call.keywords if k.arg == 'version')
    assert version == ET.parse(root / 'package.xml').findtext('version')
