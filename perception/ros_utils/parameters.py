"""Node parameters declared from the JSON schema, so a node and its schema can never list different parameters.
Every parameter is required (typed, no default): the parameter file supplies them all, a missing one fails fast."""
from rclpy.node import Node
from rclpy.parameter import Parameter
from rcl_interfaces.msg import ParameterDescriptor

from perception.core.parameters import schema_parameters, validate

TYPES = {'string': Parameter.Type.STRING, 'number': Parameter.Type.DOUBLE, 'integer': Parameter.Type.INTEGER,
         'boolean': Parameter.Type.BOOL}


def declare_from_schema(node: Node, schema_node: str) -> dict:
    """Declare the node's parameters, check them against the schema, return {'dotted.name': value}."""
    values = {}
    for name, prop in schema_parameters(schema_node).items():
        node.declare_parameter(name, TYPES[prop['type']], ParameterDescriptor(description=prop['description']))
        value = node.get_parameter(name).value
        if value is None:
            raise ValueError(f'parameter {name} is not set: pass the parameter file (config/perception.yaml)')
        values[name] = value
    validate(schema_node, values)
    return values
