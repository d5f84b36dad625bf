"""perception-sim refuses out-of-range arguments with one usage line (exit 2), before simulating anything."""
import re

import pytest

from perception.sim.cli import MAX_IMAGE_SIDE, main


@pytest.mark.parametrize('argv, message', [
    (['--seed', '-1'], '--seed must be a non-negative integer'),
    (['--seed', str(2 ** 64)], '--seed must be a non-negative integer below 2\\*\\*63'),
    (['--seed', '1', '--width', '100000', '--height', '100'], f'at most {MAX_IMAGE_SIDE}'),
    (['--seed', '1', '--width', '640', '--height', '2000000000'], f'at most {MAX_IMAGE_SIDE}'),
    (['--seed', '1', '--width', '8', '--height', '8'], 'at least 16'),
])
def test_out_of_range_arguments_are_one_usage_error(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        main(argv + ['--out', str(tmp_path / 'bag')])
    assert exit_.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert 'Traceback' not in '\n'.join(error)
    assert error[-1].startswith('perception-sim: error:')
    assert re.search(message, error[-1])
    assert not (tmp_path / 'bag').exists()
