"""Node parameters declared from the JSON schema, so a node and its schema can never list different parameters.
Every parameter is required: the parameter file supplies them all. They are checked as offline tools check them
(core.parameters.validate): a missing, unknown (misspelt) or mistyped one is a one-line ValueError, and an integer
for a double is read as a float."""
from rclpy.node import Node
from rcl_interfaces.msg import ParameterDescriptor

from perception.core.parameters import schema_parameters, validate

# Parameters every rclpy node takes besides its own (set with -p or by launch).
ROS_PARAMETERS = {'use_sim_time', 'start_type_description_service'}
ROS_PARAMETER_PREFIXES = ('qos_overrides.',)


def declare_from_schema(node: Node, schema_node: str) -> dict:
    """Check what the node was given (parameter file, -p) against the schema, declare every schema parameter with
    its type and the checked value, return {'dotted.name': value}."""
    # rclpy keeps what --params-file and -p gave a node only here: declare_parameter would refuse an integer for a
    # double and says nothing of names nobody declares.
    given = {name: parameter.value for name, parameter in node._parameter_overrides.items()
             if name not in ROS_PARAMETERS and not name.startswith(ROS_PARAMETER_PREFIXES)}
    values = validate(schema_node, given)
    for name, prop in schema_parameters(schema_node).items():
        node.declare_parameter(name, values[name], ParameterDescriptor(description=prop['description']),
                               ignore_override=True)
    return values
