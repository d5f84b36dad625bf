"""PointNet++ as ONNX: its learned layers, with the point sampling and neighbour searches left to the host.

Farthest-point sampling, ball query and 3-NN are data-dependent searches (Python loops and index ranges chosen by
the data) that a traced graph would freeze for one cloud, so they stay in torch: one pass of `PointNet2.forward`
records their indices (and the 3-NN weights), and a second pass is traced with the same searches answered from
graph inputs. The exported graph thus holds every learned layer (input norm, set-abstraction MLPs and max pooling,
feature propagation, head) plus the gathers, and reuses the network's own forward. The sparse U-Net is not
exported: spconv 2.3 has no ONNX export, and its deployment paths (TensorRT sparse-convolution plugins, its int8
kernels) need CUDA, so on a CPU nothing but spconv itself runs it.
"""
import json
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from perception.core.lidar.segmenter import LidarModel
from perception.export.camera import OPSET, sha256
from perception.models import point_ops, pointnet2
from perception.preprocessing.voxelize import PointBatch

SEARCHES = ('farthest_point_sampling', 'ball_query', 'three_nn_interpolate')


def _three_nn(unknown: torch.Tensor, known: torch.Tensor, reach: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The 3-NN indices and inverse-distance weights three_nn_interpolate uses."""
    distance, index = point_ops._nearest(unknown, known, 3, reach, exact=3)
    weight = 1.0 / (distance + 1e-8)
    return index, weight / weight.sum(dim=2, keepdim=True)


@contextmanager
def _searches(replace: dict):
    """pointnet2's search functions replaced for the duration."""
    original = {name: getattr(pointnet2, name) for name in SEARCHES}
    for name, function in replace.items():
        setattr(pointnet2, name, function)
    try:
        yield
    finally:
        for name, function in original.items():
            setattr(pointnet2, name, function)


@torch.no_grad()  # not inference mode: the results feed the export's trace
def record_searches(network: pointnet2.PointNet2, batch: PointBatch) -> tuple[torch.Tensor, list[torch.Tensor], float]:
    """The network's logits, the searches' results in call order (sample indices, neighbour indices, 3-NN indices
    and weights) for this batch, and the milliseconds spent searching."""
    found, elapsed = [], []

    def timed(search):
        def run(*args):
            start = time.perf_counter()
            results = search(*args)
            elapsed.append(time.perf_counter() - start)
            found.extend(results if isinstance(results, tuple) else [results])
            return results
        return run

    sampling, neighbours, three_nn = (timed(point_ops.farthest_point_sampling), timed(point_ops.ball_query),
                                      timed(_three_nn))

    def interpolate(unknown, known, known_features, reach=float('inf')):
        index, weight = three_nn(unknown, known, reach)
        return (point_ops.gather_points(known_features, index) * weight.unsqueeze(3)).sum(dim=2)

    with _searches({'farthest_point_sampling': sampling, 'ball_query': neighbours,
                    'three_nn_interpolate': interpolate}):
        logits = network(batch)
    return logits, found, 1e3 * sum(elapsed)


class PointNet2Layers(nn.Module):
    """PointNet++'s forward with its searches answered from inputs: (coord, feat, *searches) -> logits."""

    def __init__(self, network: pointnet2.PointNet2, batch_size: int):
        super().__init__()
        self.network, self.batch_size = network, batch_size

    def forward(self, coord: torch.Tensor, feat: torch.Tensor, *searches: torch.Tensor) -> torch.Tensor:
        answers = iter(searches)

        def interpolate(unknown, known, known_features, reach=float('inf')):
            index, weight = next(answers), next(answers)
            return (point_ops.gather_points(known_features, index) * weight.unsqueeze(3)).sum(dim=2)

        offset = torch.arange(1, self.batch_size + 1) * (len(coord) // self.batch_size)
        with _searches({'farthest_point_sampling': lambda *_: next(answers), 'ball_query': lambda *_: next(answers),
                        'three_nn_interpolate': interpolate}):
            return self.network(PointBatch(coord=coord, feat=feat, offset=offset))


class OnnxPointNet2Layers:
    """The exported layers in ONNX Runtime: (batch, searches) -> logits, the searches made in torch."""

    def __init__(self, path: Path, threads: int | None = None):
        import onnxruntime
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        self.session = onnxruntime.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])

    def __call__(self, batch: PointBatch, searches: list[torch.Tensor]) -> torch.Tensor:
        names = [i.name for i in self.session.get_inputs()]
        inputs = [batch.coord, batch.feat, *searches]
        return torch.from_numpy(self.session.run(None, {name: value.numpy() for name, value in zip(names, inputs)})[0])


def export_pointnet2(weights: Path, out: Path, points: int = 0, seed: int = 3002) -> dict:
    """Export the PointNet++ layers for one chunk size, check them against PyTorch on a simulated sweep of an
    eval seed and time both (one thread); writes out/pointnet2.onnx and out/pointnet2.json."""
    from perception.sim.simulator import DriveSimulator
    from perception.core.clouds import sweep_array

    out.mkdir(parents=True, exist_ok=True)
    model = LidarModel.load(weights)
    if model.backend != 'pointnet2':
        raise ValueError(f'{weights}: a {model.backend} model; only PointNet++ exports (perception/export/lidar.py)')
    if points:
        model.chunk_points = points
    sweep = torch.from_numpy(sweep_array(DriveSimulator(seed, 1).frame(0).points))
    batch, _ = model.prepare(sweep)
    batch = PointBatch(coord=batch.coord[:model.chunk_points], feat=batch.feat[:model.chunk_points],
                       offset=torch.tensor([model.chunk_points]))  # one chunk: the exported batch size
    network = model.network.eval()
    reference, searches, _ = record_searches(network, batch)
    names = ['coord', 'feat'] + [f'search{i}' for i in range(len(searches))]
    path = out / 'pointnet2.onnx'
    torch.onnx.export(PointNet2Layers(network, 1).eval(), (batch.coord, batch.feat, *searches), path,
                      input_names=names, output_names=['logits'], opset_version=OPSET, dynamo=False)
    runtime = OnnxPointNet2Layers(path, threads=1)
    exported = runtime(batch, searches)
    torch_ms, search_ms, onnx_ms = [], [], []
    for _ in range(5):  # interleaved, one thread
        start = time.perf_counter()
        _, found, searching = record_searches(network, batch)
        torch_ms.append((time.perf_counter() - start) * 1e3)
        search_ms.append(searching)
        start = time.perf_counter()
        runtime(batch, found)
        onnx_ms.append((time.perf_counter() - start) * 1e3)
    report = {'format': 'onnx', 'model': path.name, 'chunk_points': model.chunk_points,
              'source': {'weights': str(weights), 'sha256': sha256(weights)},
              'check': {'max_abs_difference': float((reference - exported).abs().max()),
                        'label_agreement': float((reference.argmax(1) == exported.argmax(1)).float().mean())},
              'ms_one_thread': {'pytorch_forward': float(np.median(torch_ms)),
                                'searches': float(np.median(search_ms)),
                                'pytorch_layers': float(np.median(torch_ms) - np.median(search_ms)),
                                'onnx_runtime_layers': float(np.median(onnx_ms)),
                                'onnx_runtime_forward': float(np.median(search_ms) + np.median(onnx_ms))},
              'sparse_unet': 'not exported: spconv 2.3 has no ONNX export; its deployment paths need CUDA'}
    (out / 'pointnet2.json').write_text(json.dumps(report, indent=2) + '\n')
    return report
