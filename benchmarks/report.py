"""Shared output of the benchmarks: a Markdown table on stdout and a JSON file under outputs/benchmarks/."""
import json
import platform
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / 'outputs' / 'benchmarks'


def machine() -> dict:
    return {'cpu': platform.processor() or platform.machine(), 'threads': torch.get_num_threads(),
            'cuda': torch.cuda.get_device_name() if torch.cuda.is_available() else None}


def table(rows: list[dict], columns: list[str] | None = None) -> str:
    columns = columns or list(rows[0])

    def cell(value):
        return f'{value:.2f}' if isinstance(value, float) else str(value)
    lines = ['| ' + ' | '.join(columns) + ' |', '|' + '---|' * len(columns)]
    lines += ['| ' + ' | '.join(cell(row.get(c, '')) for c in columns) + ' |' for row in rows]
    return '\n'.join(lines)


def publish(name: str, rows: list[dict], extra: dict | None = None, columns: list[str] | None = None) -> Path:
    """Print the table and write {name}.json (rows, machine, extra); returns the JSON path."""
    print(table(rows, columns))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f'{name}.json'
    path.write_text(json.dumps({'benchmark': name, 'machine': machine(), 'rows': rows, **(extra or {})}, indent=2,
                               default=float))
    print(f'\nwrote {path}')
    return path
