"""Multi-scale deformable attention against a naive loop of explicit bilinear interpolation."""
import math

import pytest
import torch

from perception.models.ms_deform_attn import ms_deform_attn_core, MSDeformAttn

SHAPES = [(5, 7), (3, 4), (2, 2)]


def bilinear(value_map: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """value_map (H, W, D) at normalised scalar (x, y) in [0, 1], pixel centres at (i + 0.5) / size, zeros outside."""
    height, width, _ = value_map.shape
    px, py = x * width - 0.5, y * height - 0.5
    x0, y0 = math.floor(px.item()), math.floor(py.item())
    result = torch.zeros(value_map.shape[-1], dtype=value_map.dtype)
    for xi, yi in ((x0, y0), (x0 + 1, y0), (x0, y0 + 1), (x0 + 1, y0 + 1)):
        if 0 <= xi < width and 0 <= yi < height:
            result += (1 - abs(px - xi)) * (1 - abs(py - yi)) * value_map[yi, xi]
    return result


def naive_ms_deform_attn(value, spatial_shapes, sampling_locations, attention_weights):
    batch, _, heads, head_dim = value.shape
    _, num_queries, _, levels, points, _ = sampling_locations.shape
    starts = [0]
    for h, w in spatial_shapes:
        starts.append(starts[-1] + h * w)
    output = torch.zeros(batch, num_queries, heads, head_dim, dtype=value.dtype)
    for b in range(batch):
        for q in range(num_queries):
            for m in range(heads):
                for level, (h, w) in enumerate(spatial_shapes):
                    value_map = value[b, starts[level]:starts[level + 1], m].reshape(h, w, head_dim)
                    for p in range(points):
                        x, y = sampling_locations[b, q, m, level, p]
                        output[b, q, m] += attention_weights[b, q, m, level, p] * bilinear(value_map, x, y)
    return output.flatten(2)


def random_inputs(batch=2, num_queries=6, heads=3, head_dim=4, points=3, requires_grad=False):
    generator = torch.Generator().manual_seed(0)
    levels = len(SHAPES)
    value = torch.randn(batch, sum(h * w for h, w in SHAPES), heads, head_dim, generator=generator, dtype=torch.float64)
    # Locations in [-0.2, 1.2] so that some samples fall partly or wholly outside the map.
    locations = torch.rand(batch, num_queries, heads, levels, points, 2, generator=generator, dtype=torch.float64)
    locations = locations * 1.4 - 0.2
    weights = torch.rand(batch, num_queries, heads, levels, points, generator=generator, dtype=torch.float64)
    weights = weights / weights.sum((-1, -2), keepdim=True)
    return [t.requires_grad_(requires_grad) for t in (value, locations, weights)]


@pytest.fixture(params=['embedding_bag', 'grid_sample'])
def formulation(request, monkeypatch):
    """Both formulations of the core: embedding_bag (run) and grid_sample (traced by an ONNX export)."""
    if request.param == 'grid_sample':
        monkeypatch.setattr(torch.onnx, 'is_in_onnx_export', lambda: True)
    return request.param


def test_core_equals_naive_bilinear_reference(formulation):
    value, locations, weights = random_inputs()
    expected = naive_ms_deform_attn(value, SHAPES, locations, weights)
    actual = ms_deform_attn_core(value, SHAPES, locations, weights)
    assert actual.shape == (2, 6, 3 * 4)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ms_deform_attn_core(value.float(), SHAPES, locations.float(), weights.float()),
                               expected.float(), atol=1e-5, rtol=1e-5)


def test_core_gradients_match_reference(formulation):
    value, locations, weights = random_inputs(batch=1, num_queries=2, heads=2, points=2, requires_grad=True)
    upstream = torch.randn(1, 2, 2 * 4, dtype=torch.float64)
    grads = torch.autograd.grad((ms_deform_attn_core(value, SHAPES, locations, weights) * upstream).sum(),
                                (value, locations, weights))
    expected = torch.autograd.grad((naive_ms_deform_attn(value, SHAPES, locations, weights) * upstream).sum(),
                                   (value, locations, weights))
    for actual_grad, expected_grad in zip(grads, expected):
        torch.testing.assert_close(actual_grad, expected_grad, atol=1e-6, rtol=1e-5)


def test_module_samples_at_its_offsets_and_every_parameter_gets_gradient():
    torch.manual_seed(0)
    attention = MSDeformAttn(dim=12, levels=len(SHAPES), heads=3, points=2).double()
    batch, num_queries = 2, 5
    query = torch.randn(batch, num_queries, 12, dtype=torch.float64)
    value = torch.randn(batch, sum(h * w for h, w in SHAPES), 12, dtype=torch.float64)
    reference = torch.rand(batch, num_queries, len(SHAPES), 2, dtype=torch.float64)
    output = attention(query, reference, value, SHAPES)
    assert output.shape == (batch, num_queries, 12)

    # The module's own reshapes, recomputed by hand and fed to the reference.
    offsets = attention.sampling_offsets(query).view(batch, num_queries, 3, len(SHAPES), 2, 2)
    sizes = torch.tensor([(w, h) for h, w in SHAPES], dtype=torch.float64)
    locations = reference[:, :, None, :, None, :] + offsets / sizes[:, None, :]
    weights = attention.attention_weights(query).view(batch, num_queries, 3, -1).softmax(-1)
    weights = weights.view(batch, num_queries, 3, len(SHAPES), 2)
    projected = attention.value_proj(value).view(batch, -1, 3, 4)
    expected = attention.output_proj(naive_ms_deform_attn(projected, SHAPES, locations, weights))
    torch.testing.assert_close(output, expected, atol=1e-5, rtol=1e-5)

    output.square().sum().backward()
    for name, parameter in attention.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_init_is_uniform_attention_on_a_ring_of_points():
    attention = MSDeformAttn(dim=16, levels=3, heads=4, points=2)
    query = torch.randn(1, 3, 16)
    weights = attention.attention_weights(query)
    torch.testing.assert_close(weights, torch.zeros_like(weights))
    offsets = attention.sampling_offsets(query).view(1, 3, 4, 3, 2, 2)
    # Head 0 looks right (+x), head 1 down (+y); the second point is twice as far as the first.
    torch.testing.assert_close(offsets[0, 0, 0, 0], torch.tensor([[1.0, 0.0], [2.0, 0.0]]), atol=1e-6, rtol=0)
    torch.testing.assert_close(offsets[0, 0, 1, 2], torch.tensor([[0.0, 1.0], [0.0, 2.0]]), atol=1e-6, rtol=0)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_cuda_matches_cpu():
    value, locations, weights = random_inputs()
    expected = ms_deform_attn_core(value, SHAPES, locations, weights)
    actual = ms_deform_attn_core(value.cuda(), SHAPES, locations.cuda(), weights.cuda())
    torch.testing.assert_close(actual.cpu(), expected, atol=1e-6, rtol=1e-6)
