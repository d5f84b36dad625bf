"""perception-train camera and panoptic end to end on a tiny simulated set: weights that load, provenance
records, resume, and refusal of held-out seeds."""
import shutil

import pytest
import torch
import yaml

from perception.models.camera_net import load_camera_net
from perception.sim.record import record_drive
from perception.sim.simulator import DriveSimulator, SensorRig
from perception.train.cli import main as train_main


def tiny(steps: int = 2) -> list[str]:
    return ['--steps', str(steps), '--batch-size', '1', '--crop', '64', '128', '--val-every', '2',
            '--checkpoint-every', '1', '--workers', '0']


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('cityscapes')
    rig = SensorRig.from_config(width=160, height=64)
    for seed in (1000, 2000):  # a train and a val seed
        record_drive(DriveSimulator(seed, 2, rig), cityscapes=root, progress=False)
    return root


def test_camera_then_panoptic_training_write_loadable_weights_and_resume(dataset, tmp_path):
    torch.set_num_threads(1)
    out = tmp_path / 'camera.pt'
    common = ['--data', str(dataset), '--run-dir', str(tmp_path / 'run'), '--out', str(out),
              '--widths', '8', '8', '16', '16']
    assert train_main(['camera', *common, *tiny()]) == 0
    net, meta = load_camera_net(out)
    assert net.panoptic_head is None and 'val_miou' in meta['semantic']['results']
    assert yaml.safe_load(out.with_suffix('.yaml').read_text())['semantic']['data']['train_sequences'] == ['sim1000']
    assert train_main(['camera', *common, *tiny(), '--resume']) == 0
    assert train_main(['camera', *common, *tiny(3), '--resume']) == 1  # another schedule than the checkpoint's

    panoptic = tmp_path / 'panoptic.pt'
    assert train_main(['panoptic', '--data', str(dataset), '--camera', str(out), '--out', str(panoptic),
                       '--run-dir', str(tmp_path / 'run_panoptic'), '--hidden-dim', '32', '--queries', '8',
                       '--val-frames', '1', *tiny()]) == 0
    net, meta = load_camera_net(panoptic)
    assert net.panoptic_head is not None and {'semantic', 'panoptic'} <= set(meta)

    propagated = tmp_path / 'propagated.pt'
    video = tmp_path / 'video'  # unlabelled "real" consecutive frames: the training drive's images in order
    shutil.copytree(dataset / 'leftImg8bit' / 'train' / 'sim1000', video)
    assert train_main(['propagation', '--data', str(dataset), '--camera', str(panoptic), '--out', str(propagated),
                       '--run-dir', str(tmp_path / 'run_propagation'), '--max-gap', '1', '--real', str(video),
                       *tiny()]) == 0
    net, meta = load_camera_net(propagated)
    assert net.panoptic_head is not None and net.correction is not None
    assert {'semantic', 'panoptic', 'correction'} <= set(meta)
    assert meta['correction']['data']['real_video']['pairs'] == 1  # two frames: one consecutive pair
    before, after = load_camera_net(panoptic)[0].state_dict(), net.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # only the new branch was trained


def test_training_refuses_held_out_seeds(dataset, tmp_path, capsys):
    mixed = tmp_path / 'mixed'
    shutil.copytree(dataset, mixed)
    for part in ('leftImg8bit', 'gtFine'):  # an eval seed's frames hidden in the training split
        shutil.copytree(mixed / part / 'train' / 'sim1000', mixed / part / 'train' / 'sim3000')
    assert train_main(['camera', '--data', str(mixed), '--out', str(tmp_path / 'x.pt'), *tiny()]) == 1
    assert 'sim3000: not train seeds' in capsys.readouterr().err


def test_panoptic_head_can_start_from_another_weights_files_head(dataset, tmp_path):
    torch.set_num_threads(1)
    camera = tmp_path / 'camera.pt'
    common = ['--data', str(dataset), '--workers', '0', '--val-every', '1', '--checkpoint-every', '1']
    assert train_main(['camera', *common, '--run-dir', str(tmp_path / 'c'), '--out', str(camera), '--widths', '8',
                       '8', '16', '16', '--steps', '1', '--batch-size', '1', '--crop', '64', '128']) == 0
    head_options = ['--hidden-dim', '32', '--queries', '8', '--val-frames', '1', '--steps', '1', '--batch-size', '1',
                    '--crop', '64', '128']
    first = tmp_path / 'first.pt'
    assert train_main(['panoptic', *common, '--camera', str(camera), '--out', str(first),
                       '--run-dir', str(tmp_path / 'p1'), *head_options]) == 0
    second = tmp_path / 'second.pt'
    assert train_main(['panoptic', *common, '--camera', str(camera), '--out', str(second), '--init-head', str(first),
                       '--run-dir', str(tmp_path / 'p2'), *head_options, '--lr', '1e-4']) == 0
    initial, tuned = (load_camera_net(p)[0].panoptic_head.state_dict() for p in (first, second))
    changes = [float((tuned[k] - initial[k]).abs().max()) for k in initial if initial[k].is_floating_point()]
    assert max(changes) < 0.01  # one small step away from the initial head, not a fresh one
    assert load_camera_net(second)[1]['panoptic']['initialised_from'] == str(first)
    assert train_main(['panoptic', *common, '--camera', str(camera), '--init-head', str(camera),
                       '--run-dir', str(tmp_path / 'p3'), *head_options]) == 1  # no head to start from
