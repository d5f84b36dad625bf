"""perception-export lidar on a small random-weight PointNet++: the exported layers, fed the searches torch made,
give the network's logits; the searches are restored afterwards."""
import pytest
import torch

from perception.models import pointnet2
from perception.models.pointnet2 import PointNet2, PointNet2Config
from perception.preprocessing.voxelize import PointBatch

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

from perception.export.lidar import OnnxPointNet2Layers, PointNet2Layers, record_searches  # noqa: E402


def test_exported_layers_match_pytorch(tmp_path):
    torch.manual_seed(0)
    config = PointNet2Config(num_centroids=(64, 16, 8, 4), radii=(1.0, 2.0, 4.0, 8.0), num_neighbours=8,
                             sa_channels=((8, 8), (8, 16), (16, 16), (16, 16)),
                             fp_channels=((16,), (16,), (16,), (16,)))
    network = PointNet2(config).eval()
    coord = torch.rand(256, 3) * 20
    batch = PointBatch(coord=coord, feat=torch.rand(256, 5), offset=torch.tensor([256]))
    logits, searches, search_ms = record_searches(network, batch)
    assert len(searches) == 4 + 4 + 2 * 4 and search_ms > 0  # 4 samplings, 4 ball queries, 4 x (3-NN, weights)
    assert pointnet2.farthest_point_sampling.__module__ == 'perception.models.point_ops'  # restored
    path = tmp_path / 'pointnet2.onnx'
    torch.onnx.export(PointNet2Layers(network, 1).eval(), (batch.coord, batch.feat, *searches), path,
                      opset_version=17, dynamo=False)
    exported = OnnxPointNet2Layers(path, threads=1)(batch, searches)
    assert exported.shape == logits.shape == (256, 21)
    assert (exported - logits).abs().max() < 1e-4
    other = PointBatch(coord=torch.rand(256, 3) * 20, feat=torch.rand(256, 5), offset=torch.tensor([256]))
    other_logits, other_searches, _ = record_searches(network, other)  # another cloud: its own searches
    assert (OnnxPointNet2Layers(path, threads=1)(other, other_searches) - other_logits).abs().max() < 1e-4
