"""The README says what the code does: its parameter table is the schema's and the parameter file's, and its
trained-models table gives the shipped weights' voxel size."""
import re

import torch

from perception.core.lidar.segmenter import default_weights
from perception.core.parameters import NODES, TABLE_BEGIN, TABLE_END, parameter_table, schema_parameters
from perception.paths import PACKAGE_DIR

README = (PACKAGE_DIR.parent / 'README.md').read_text()


def test_the_parameter_table_is_generated_from_the_schema_and_the_parameter_file():
    table = README[README.index(TABLE_BEGIN) + len(TABLE_BEGIN):README.index(TABLE_END)].strip()
    assert table == parameter_table(), 'stale README parameter table: run `make readme-parameters`'
    documented = {(node, name) for node in NODES for name in schema_parameters(node) if f'`{name}`' in table}
    assert len(documented) == sum(len(schema_parameters(node)) for node in NODES)


def test_the_trained_models_table_gives_the_shipped_voxel_size():
    documented = float(re.search(r'`lidar_sparse\.pt`: spconv U-Net, ([\d.]+) m voxels', README).group(1))
    assert documented == torch.load(default_weights('sparse'), weights_only=True)['voxel_size']
