"""Node parameters from config/perception.yaml as flat {'dotted.name': value} dicts, the form ROS 2 gives a node,
so offline tools and nodes build their core configuration from the same values."""
from pathlib import Path
from typing import Any

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
