"""config/perception.yaml against its schema, and the schema as the one list of node parameters."""
import ast
import json

import jsonschema
import pytest
import yaml

from perception.core.camera.segmenter import CameraSegmenterConfig
from perception.core.fusion.pipeline import SceneFusionConfig
from perception.core.lidar.segmenter import LidarSegmenterConfig
from perception.core.parameters import load_parameters, schema_parameters, validate
from perception.paths import PACKAGE_DIR, config_path


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
