"""config/perception.yaml against its schema, and the schema as the one list of node parameters."""
import ast
import dataclasses
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from perception.core.camera.panoptic import PanopticInferenceConfig
from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenterConfig
from perception.core.fusion.fuse import FusionConfig
from perception.core.fusion.pipeline import SceneFusionConfig
from perception.core.fusion.projection import OcclusionConfig
from perception.core.fusion.sync import SyncConfig
from perception.core.lidar.instances import ClusteringConfig
from perception.core.lidar.segmenter import LidarSegmenterConfig
from perception.core.parameters import load_parameters, schema_parameters, validate
from perception.paths import PACKAGE_DIR, WEIGHTS_DIR, config_path, weights_file


def test_parameter_file_satisfies_its_schema():
    document = yaml.safe_load(config_path('perception.yaml').read_text())
    schema = json.loads(config_path('schema/perception.schema.json').read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    jsonschema.validate(document, schema)


@pytest.mark.parametrize('node, build', [('camera_segmentation', CameraSegmenterConfig.from_parameters),
                                         ('lidar_segmentation', LidarSegmenterConfig.from_parameters),
                                         ('fusion', SceneFusionConfig.from_parameters)])
def test_every_schema_parameter_is_set_and_builds_the_core_config(node, build):
    parameters = load_parameters(node)
    assert set(parameters) == set(schema_parameters(node))
    build(parameters)


def test_bad_values_name_the_parameter():
    parameters = load_parameters('camera_segmentation')
    with pytest.raises(ValueError, match='propagation.policy'):
        validate('camera_segmentation', {**parameters, 'propagation.policy': 'sometimes'})
    with pytest.raises(ValueError, match='propagation.interval'):
        validate('camera_segmentation', {**parameters, 'propagation.interval': 0})


def test_nodes_declare_parameters_only_from_the_schema():
    """No node calls declare_parameter itself: the schema is the only list."""
    for path in (PACKAGE_DIR / 'nodes').glob('*.py'):
        calls = [n for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Call)
                 and getattr(n.func, 'attr', '') == 'declare_parameter']
        assert not calls, f'{path.name} declares parameters outside the schema'


def test_core_config_defaults_are_the_parameter_file_values():
    """A core config built without arguments is the one the nodes build from config/perception.yaml, so a library
    default can never disagree with the parameter file (the fusion's weights have no default: they come from the
    calibration file)."""
    assert CameraSegmenterConfig.from_parameters(load_parameters('camera_segmentation')) == CameraSegmenterConfig()
    assert LidarSegmenterConfig.from_parameters(load_parameters('lidar_segmentation')) == LidarSegmenterConfig()
    from_file = SceneFusionConfig.from_parameters(load_parameters('fusion'))
    assert from_file == SceneFusionConfig(fusion=FusionConfig(calibration=from_file.fusion.calibration))


@pytest.mark.parametrize('config', [CameraSegmenterConfig, LidarSegmenterConfig, SceneFusionConfig, FusionConfig,
                                    PropagationConfig, PanopticInferenceConfig, ClusteringConfig, OcclusionConfig,
                                    SyncConfig])
def test_core_configs_are_built_by_keyword_only(config):
    """A reordered field can never swap two values silently."""
    assert all(f.kw_only for f in dataclasses.fields(config))


def test_a_bare_weights_name_is_a_shipped_file_and_a_path_is_itself(tmp_path, monkeypatch):
    assert weights_file('lidar_sparse_fast.pt') == WEIGHTS_DIR / 'lidar_sparse_fast.pt'
    assert weights_file('lidar_sparse_fast.pt').is_file()
    assert weights_file(tmp_path / 'mine.pt') == tmp_path / 'mine.pt'  # a folder part: as given, even if missing
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'local.pt').write_bytes(b'')
    assert weights_file('local.pt') == Path('local.pt')  # an existing file in the working folder wins
