"""Node parameters from config/perception.yaml as flat {'dotted.name': value} dicts, the form ROS 2 gives a node,
so offline tools and nodes build their core configuration from the same values."""
import difflib
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
    """The flat ros__parameters of `node` in the parameter file (default: config/perception.yaml). ValueError
    (one line) for a missing file, one that is not YAML, or one without the node's section."""
    path = Path(path) if path else config_path('perception.yaml')
    try:
        document = yaml.safe_load(path.read_bytes())
    except FileNotFoundError:
        raise ValueError(f'{path}: no such parameter file') from None
    except (OSError, yaml.YAMLError) as error:
        reason = ' '.join(str(error).split()[:12])
        raise ValueError(f'{path}: not a YAML parameter file ({reason})') from None
    entry = document.get(node) if isinstance(document, dict) else None
    parameters = entry.get('ros__parameters') if isinstance(entry, dict) else None
    if not isinstance(parameters, dict):
        raise ValueError(f'{path}: no ros__parameters for node {node!r}')
    return flatten(parameters)


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


def validate(node: str, parameters: dict[str, Any]) -> dict[str, Any]:
    """ValueError (one line) naming the offending parameter if flat `parameters` do not satisfy the node's schema:
    an unknown name (with the likely intended one), a missing one, a bad value. Returns them with integers given
    for numbers as floats, so an integer for a double reads the same in the nodes and offline."""
    declared = schema_parameters(node)
    for name in parameters:
        if name not in declared:
            guess = difflib.get_close_matches(name, declared, n=1)
            hint = f' (did you mean {guess[0]}?)' if guess else ''
            raise ValueError(f'unknown parameter {name} for node {node}{hint}')
    for name in declared:
        if parameters.get(name) is None:
            raise ValueError(f'parameter {name} is not set: pass the parameter file (config/perception.yaml)')
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
    return {name: float(value) if declared[name]['type'] == 'number' else value for name, value in parameters.items()}


NODES = ('camera_segmentation', 'lidar_segmentation', 'fusion')
TABLE_BEGIN = '<!-- parameter table: `make readme-parameters` writes it from the schema and config/perception.yaml -->'
TABLE_END = '<!-- end of the generated parameter table -->'


def _allowed(prop: dict) -> str:
    if 'enum' in prop:
        return ' \\| '.join(f'`{value}`' for value in prop['enum'])
    low, high = prop.get('minimum'), prop.get('maximum')
    if low is not None and high is not None:
        return f'{low} .. {high}'
    return f'>= {low}' if low is not None else (f'<= {high}' if high is not None else '')


def parameter_table() -> str:
    """Markdown table of every node parameter: type, allowed values (schema), default (the parameter file's value)
    and description (schema). The README's copy is checked against it (tests/test_readme.py)."""
    rows = ['| node | parameter | type | allowed | default | description |', '|---|---|---|---|---|---|']
    for node in NODES:
        values = load_parameters(node)
        for index, (name, prop) in enumerate(schema_parameters(node).items()):
            value = values[name]
            default = json.dumps(value) if isinstance(value, bool) or value == '' else (
                f'`{value}`' if isinstance(value, str) else value)
            description = prop['description'].replace('|', '\\|')
            rows.append(f'| {node if index == 0 else ""} | `{name}` | {prop["type"]} | {_allowed(prop)} | '
                        f'{default} | {description} |')
    return '\n'.join(rows)


def with_parameter_table(text: str) -> str:
    """`text` (the README) with the part between TABLE_BEGIN and TABLE_END replaced by `parameter_table()`."""
    start, end = text.index(TABLE_BEGIN) + len(TABLE_BEGIN), text.index(TABLE_END)
    return f'{text[:start]}\n{parameter_table()}\n{text[end:]}'


if __name__ == '__main__':  # python -m perception.core.parameters README.md: regenerate its parameter table
    import sys
    readme = Path(sys.argv[1])
    readme.write_text(with_parameter_table(readme.read_text()))
