"""Bad parameter files and values get one-line ValueErrors, the same in the nodes (rclpy) and offline (replay):
a missing or non-parameter file, a misspelt key (unknown + not set), a string for a number; an integer for a
double is accepted everywhere and read as a float."""
import pytest
import yaml

from perception.core.parameters import load_parameters, schema_parameters, validate
from perception.paths import config_path


def parameter_file(tmp_path, change=None, node='fusion'):
    document = yaml.safe_load(config_path('perception.yaml').read_text())
    if change:
        change(document[node]['ros__parameters'])
    path = tmp_path / 'params.yaml'
    path.write_text(yaml.safe_dump(document))
    return path


MISSPELT = r'unknown parameter sync\.slopp_s for node fusion \(did you mean sync\.slop_s\?\)'


def misspell_slop(parameters):
    parameters['sync']['slopp_s'] = parameters['sync'].pop('slop_s')


def one_line(error) -> str:
    message = str(error.value)
    assert '\n' not in message and 'Traceback' not in message
    return message


@pytest.mark.parametrize('content, message', [
    (None, 'no such parameter file'),
    (b'\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR', 'not a YAML parameter file'),
    (b'fusion: [unclosed', 'not a YAML parameter file'),
    (b'just a string', "no ros__parameters for node 'fusion'"),
    (b'camera_segmentation:\n  ros__parameters: {}\n', "no ros__parameters for node 'fusion'"),
])
def test_a_missing_or_non_parameter_file_is_a_one_line_value_error(tmp_path, content, message):
    path = tmp_path / 'params.yaml'
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        load_parameters('fusion', path)
    assert str(path) in one_line(error)


def test_a_misspelt_key_is_named_as_unknown_with_the_likely_intended_one(tmp_path):
    parameters = load_parameters('fusion', parameter_file(tmp_path, misspell_slop))
    with pytest.raises(ValueError, match=MISSPELT) as error:
        validate('fusion', parameters)
    one_line(error)


def test_a_missing_key_is_not_set(tmp_path):
    parameters = load_parameters('fusion', parameter_file(tmp_path, lambda p: p['sync'].pop('slop_s')))
    with pytest.raises(ValueError, match=r'parameter sync\.slop_s is not set') as error:
        validate('fusion', parameters)
    one_line(error)


@pytest.mark.parametrize('value', ['fast', True, [1.0]])
def test_a_non_number_for_a_double_is_a_value_error_naming_it(value):
    parameters = {**load_parameters('fusion'), 'sync.slop_s': value}
    with pytest.raises(ValueError, match=r'parameter sync\.slop_s: .* is not of type .number.') as error:
        validate('fusion', parameters)
    one_line(error)


def test_an_integer_for_a_double_is_read_as_a_float():
    checked = validate('fusion', {**load_parameters('fusion'), 'sync.camera_timeout_s': 1})
    assert checked['sync.camera_timeout_s'] == 1.0 and isinstance(checked['sync.camera_timeout_s'], float)
    assert isinstance(checked['sync.queue_size'], int)  # integers stay integers


# The nodes: the same checks on what rclpy got from --params-file ------------------------------------------------

@pytest.fixture
def declare(ros_context, tmp_path):
    pytest.importorskip('rclpy')
    import rclpy
    from perception.ros_utils.parameters import declare_from_schema
    nodes = []

    def declare(path, extra=()):
        node = rclpy.create_node('fusion', context=ros_context, use_global_arguments=False,
                                 cli_args=['--ros-args', '--params-file', str(path), *extra])
        nodes.append(node)
        return node, declare_from_schema(node, 'fusion')
    yield declare
    for node in nodes:
        node.destroy_node()


@pytest.mark.ros
def test_a_node_declares_every_schema_parameter_with_its_type(declare, tmp_path):
    from rclpy.parameter import Parameter
    node, values = declare(parameter_file(tmp_path, lambda p: p['sync'].update(camera_timeout_s=1)),
                           ['-p', 'use_sim_time:=true'])
    assert set(values) == set(schema_parameters('fusion'))
    assert values['sync.camera_timeout_s'] == 1.0
    parameter = node.get_parameter('sync.camera_timeout_s')
    assert parameter.type_ == Parameter.Type.DOUBLE and parameter.value == 1.0
    assert node.get_parameter('sync.queue_size').type_ == Parameter.Type.INTEGER


@pytest.mark.ros
@pytest.mark.parametrize('change, message', [
    (misspell_slop, MISSPELT),
    (lambda p: p['sync'].pop('slop_s'), r'parameter sync\.slop_s is not set'),
    (lambda p: p['sync'].update(slop_s='fast'), r"parameter sync\.slop_s: 'fast' is not of type 'number'"),
    (lambda p: p['sync'].update(queue_size=2.5), r"parameter sync\.queue_size: 2\.5 is not of type 'integer'"),
])
def test_a_node_rejects_bad_parameters_in_one_line_as_replay_does(declare, tmp_path, change, message):
    path = parameter_file(tmp_path, change)
    with pytest.raises(ValueError, match=message) as node_error:
        declare(path)
    with pytest.raises(ValueError, match=message) as offline_error:
        validate('fusion', load_parameters('fusion', path))
    assert one_line(node_error) == one_line(offline_error)
