"""perception-train camera --finetune: gradual unfreezing, differential learning rates, frozen BatchNorm, and a
run on a tiny generated CamVid-layout set."""
import cv2
import numpy as np
import pytest
import torch
import yaml
from torch import nn

from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, load_camera_net, save_camera_net
from perception.train.camera_finetune import STAGES, frozen_stages, parameter_groups, set_trainable
from perception.train.cli import main as train_main


def tiny_net() -> CameraNet:
    torch.manual_seed(0)
    return CameraNet(CameraNetConfig(21, BackboneConfig(widths=(8, 8, 16, 16))))


def test_gradual_unfreezing_schedule():
    assert frozen_stages(0, warmup_steps=10, unfreeze_every=5) == STAGES
    assert frozen_stages(9, 10, 5) == STAGES
    assert frozen_stages(10, 10, 5) == STAGES[:-1]  # res5 first
    assert frozen_stages(15, 10, 5) == STAGES[:-2]
    assert frozen_stages(10 + 5 * len(STAGES), 10, 5) == ()


def test_differential_learning_rates_cover_every_parameter_once():
    net = tiny_net()
    groups = parameter_groups(net, lr=1.0, decay=0.5)
    assert [g['name'] for g in groups] == ['heads', 'res5', 'res4', 'res3', 'res2', 'stem']
    assert [g['lr'] for g in groups] == [1.0, 0.5, 0.25, 0.125, 0.0625, 0.03125]
    grouped = [id(p) for g in groups for p in g['params']]
    assert sorted(grouped) == sorted(id(p) for p in net.parameters())


def test_frozen_stages_and_batchnorm_do_not_change():
    net = tiny_net()
    set_trainable(net, frozen=('stem', 'res2'), freeze_bn=False)
    assert not any(p.requires_grad for p in net.backbone.stem.parameters())
    assert not net.backbone.stem.training and net.backbone.stages[1].training
    set_trainable(net, frozen=(), freeze_bn=True)
    batchnorms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    assert batchnorms and all(not m.training and not m.weight.requires_grad for m in batchnorms)
    before = [m.running_mean.clone() for m in batchnorms]
    net(torch.rand(2, 3, 64, 64)).sum().backward()
    assert all(torch.equal(b, m.running_mean) for b, m in zip(before, batchnorms))
    assert all(m.weight.grad is None for m in batchnorms)


@pytest.fixture()
def camvid(tmp_path):
    """Six 96x72 frames: sky (CamVid 0) above road (CamVid 3), an unlabelled (11) band between."""
    root = tmp_path / 'camvid'
    rng = np.random.default_rng(0)
    for split, count in (('train', 4), ('val', 2)):
        lines = []
        for i in range(count):
            image = np.zeros((72, 96, 3), np.uint8)
            image[:36] = (200, 210, 230)
            image[36:] = (90, 90, 95)
            image = np.clip(image + rng.normal(0, 5, image.shape), 0, 255).astype(np.uint8)
            label = np.full((72, 96), 3, np.uint8)
            label[:36] = 0
            label[34:38] = 11
            (root / split).mkdir(parents=True, exist_ok=True)
            (root / f'{split}annot').mkdir(exist_ok=True)
            cv2.imwrite(str(root / split / f'f{i}.png'), image)
            cv2.imwrite(str(root / f'{split}annot' / f'f{i}.png'), label)
            lines.append(f'{split}/f{i}.png {split}annot/f{i}.png')
        (root / f'{split}.txt').write_text('\n'.join(lines) + '\n')
    return root


def test_finetune_run_trains_heads_first_and_records_the_real_data(camvid, tmp_path):
    torch.set_num_threads(1)
    init = tmp_path / 'init.pt'
    save_camera_net(init, tiny_net())
    out = tmp_path / 'camera.pt'
    args = ['camera', '--finetune', str(camvid), '--init', str(init), '--out', str(out), '--width', '64',
            '--run-dir', str(tmp_path / 'run'), '--steps', '3', '--batch-size', '2', '--crop', '32', '64',
            '--val-every', '3', '--checkpoint-every', '3', '--workers', '0', '--warmup-steps', '3']
    assert train_main(args) == 0
    tuned, meta = load_camera_net(out)
    initial = load_camera_net(init)[0].state_dict()
    state = tuned.state_dict()
    backbone = [k for k in state if k.startswith('backbone.') and 'num_batches' not in k]
    assert all(torch.equal(state[k], initial[k]) for k in backbone)  # warm-up: the backbone stayed frozen
    assert any(not torch.equal(state[k], initial[k]) for k in state if k.startswith('semantic_head.'))
    record = yaml.safe_load(out.with_suffix('.yaml').read_text())['semantic']
    assert 'research use' in record['data']['real']['terms']
    assert 0 <= record['results']['real_val_class_average_iou'] <= 100


def test_finetune_needs_init(camvid, tmp_path, capsys):
    assert train_main(['camera', '--finetune', str(camvid), '--out', str(tmp_path / 'x.pt')]) == 1
    assert '--init' in capsys.readouterr().err


def test_self_training_on_unlabelled_images_and_video(camvid, tmp_path):
    torch.set_num_threads(1)
    unlabelled = tmp_path / 'unlabelled'
    unlabelled.mkdir()
    rng = np.random.default_rng(1)
    frame = np.zeros((60, 80, 3), np.uint8)
    frame[:30], frame[30:] = (210, 215, 230), (95, 95, 100)
    cv2.imwrite(str(unlabelled / 'a.jpg'), frame)
    video = cv2.VideoWriter(str(unlabelled / 'drive.avi'), cv2.VideoWriter_fourcc(*'MJPG'), 10, (80, 60))
    for _ in range(6):
        video.write(np.clip(frame + rng.normal(0, 4, frame.shape), 0, 255).astype(np.uint8))
    video.release()
    init = tmp_path / 'init.pt'
    save_camera_net(init, tiny_net())
    out = tmp_path / 'adapted.pt'
    args = ['camera', '--finetune', str(camvid), '--adapt', str(unlabelled), '--video-stride', '3',
            '--init', str(init), '--out', str(out), '--width', '64', '--run-dir', str(tmp_path / 'run'),
            '--steps', '2', '--batch-size', '2', '--crop', '32', '64', '--adapt-batch-size', '1',
            '--val-every', '2', '--checkpoint-every', '2', '--workers', '0', '--threshold-every', '1']
    assert train_main(args) == 0
    adapted = yaml.safe_load(out.with_suffix('.yaml').read_text())['semantic']['data']['adapted_on']
    assert adapted['images'] == 3  # the image and video frames 0 and 3
    assert all(0.5 <= t <= 0.99 for t in adapted['last_thresholds'].values())
