"""Node parameters from config/perception.yaml as flat {'dotted.name': value} dicts, the form ROS 2 gives a node,
so offline tools and nodes build their core configuration from the same values."""
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from perception.paths import config_path


def flatten(nested: dict, prefix: str = '') -> dict[str, Any]:
    flat = {}
    for key, value in nested.items():
        name = f'{prefix}{key}'
        if isinstance(value, dict):
            flat.update(flatten(value, f'{name}.'))
        else:
            flat[name] = value
    return flat


def load_parameters(node: str, path: Path | None = None) -> dict[str, Any]:
    """The flat ros__parameters of `node` in the parameter file (default: config/perception.yaml)."""
    path = Path(path) if path else config_path('perception.yaml')
    with open(path) as f:
        document = yaml.safe_load(f) or {}
    try:
        return flatten(document[node]['ros__parameters'])
    except (KeyError, TypeError):
        raise KeyError(f'{path}: no ros__parameters for node {node!r}') from None


def section(parameters: dict[str, Any], prefix: str) -> dict[str, Any]:
    """The parameters under `prefix.`, with the prefix removed."""
    start = f'{prefix}.'
    return {name[len(start):]: value for name, value in parameters.items() if name.startswith(start)}


def schema(node: str) -> dict:
    """The JSON schema of `node`'s ros__parameters (config/schema/perception.schema.json)."""
    with open(config_path('schema/perception.schema.json')) as f:
        return json.load(f)['properties'][node]['properties']['ros__parameters']


def schema_parameters(node: str) -> dict[str, dict]:
    """{'dotted.name': property schema} of every parameter the schema declares for `node`."""
    def walk(properties: dict, prefix: str) -> dict:
        out = {}
        for key, prop in properties.items():
            if prop.get('type') == 'object':
                out.update(walk(prop['properties'], f'{prefix}{key}.'))
            else:
                out[f'{prefix}{key}'] = prop
        return out
    return walk(schema(node)['properties'], '')


def validate(node: str, parameters: dict[str, Any]) -> None:
    """ValueError naming the offending parameter if flat `parameters` do not satisfy the node's schema."""
    nested: dict = {}
    for name, value in parameters.items():
        *parents, leaf = name.split('.')
        target = nested
        for parent in parents:
            target = target.setdefault(parent, {})
        target[leaf] = value
    try:
        jsonschema.validate(nested, schema(node))
    except jsonschema.ValidationError as error:
        where = '.'.join(str(p) for p in error.absolute_path) or node
        raise ValueError(f'parameter {where}: {error.message}') from None
