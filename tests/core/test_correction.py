"""The Accel-style correction branch: identity before training, and after a few training steps on two frames it
moves the warped key-frame features towards the current frame's own where the two frames disagree."""
import numpy as np
import torch

from perception.core.camera.propagation import PropagationConfig
from perception.core.camera.segmenter import CameraSegmenter, CameraSegmenterConfig
from perception.models.camera_backbone import BackboneConfig
from perception.models.camera_net import CameraNet, CameraNetConfig, save_camera_net
from perception.models.correction import CORRECTED_LEVELS, CorrectionConfig
from perception.train.propagation import feature_distance


def net_with_branch() -> CameraNet:
    torch.manual_seed(0)
    net = CameraNet(CameraNetConfig(21, BackboneConfig(widths=(8, 16, 16, 32), blocks=(1, 1, 1, 1)), 16))
    return net.with_parts(correction=CorrectionConfig(channels=16)).eval()


def frames(shift: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A key frame with a bright square and the current frame with the square `shift` pixels to the right."""
    key, current = torch.full((2, 1, 3, 64, 128), 0.2)
    key[..., 16:48, 16:48] = 0.9
    current[..., 16:48, 16 + shift:48 + shift] = 0.9
    return key, current


def test_an_untrained_branch_returns_the_warped_levels_and_the_frames_own_shallow_level():
    net = net_with_branch()
    key, current = frames(0)
    with torch.no_grad():
        warped = {level: features for level, features in net.features(key).items() if level in CORRECTED_LEVELS}
        corrected = net.corrected(current, warped)
        own = net.features(current)
    for level in CORRECTED_LEVELS:
        assert torch.equal(corrected[level], warped[level])
    torch.testing.assert_close(corrected['res2'], own['res2'])


def test_training_on_two_frames_corrects_the_warped_features_where_the_frames_disagree():
    net = net_with_branch()
    key, current = frames(40)  # the square moved; the "flow" (zero, as when the flow misses the motion) did not
    with torch.no_grad():
        stale = {level: f for level, f in net.features(key).items() if level in CORRECTED_LEVELS}
        own = net.features(current)
    before = feature_distance(net.corrected(current, stale), own).item()
    optimizer = torch.optim.Adam(net.correction.parameters(), lr=1e-2)
    net.correction.train()
    for _ in range(60):
        optimizer.zero_grad()
        loss = feature_distance(net.corrected(current, stale), own)
        loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        corrected = net.corrected(current, stale)
    after = feature_distance(corrected, own).item()
    assert after < 0.5 * before
    # the gain is where the square left and arrived (res3, stride 8: columns 2..6 and 7..11), not elsewhere
    error = {name: (pyramid['res3'] - own['res3']).abs().mean(1)[0] for name, pyramid in
             (('stale', stale), ('corrected', corrected))}
    moved = error['stale'] > 0.1 * error['stale'].max()
    assert error['corrected'][moved].mean() < 0.5 * error['stale'][moved].mean()


def test_the_segmenter_corrects_propagated_frames_when_the_weights_have_a_branch(tmp_path):
    save_camera_net(tmp_path / 'camera.pt', net_with_branch())
    rng = np.random.default_rng(0)
    image = (rng.random((64, 128, 3)) * 255).astype(np.uint8)
    for correction, stages in ((True, {'warp', 'correction'}), (False, {'warp'})):
        segmenter = CameraSegmenter(CameraSegmenterConfig(
            weights=tmp_path / 'camera.pt', device='cpu', panoptic=False,
            propagation=PropagationConfig(policy='fixed', interval=3, correction=correction)))
        key, propagated = (segmenter.process(image, i * 100_000_000) for i in range(2))
        assert key.key_frame and not propagated.key_frame
        assert stages <= set(propagated.timing_ms) and ('correction' in propagated.timing_ms) == correction
        # the same frame again: corrected or merely warped by a zero flow, its labels are the key frame's
        assert (propagated.labels == key.labels).mean() > 0.99
