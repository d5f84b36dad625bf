"""PointNet++ point operations in plain, vectorised torch (no compiled ops): CPU and CUDA alike.

Clouds are dense batches: xyz (B, N, 3), features (B, N, C). Pairwise distances are computed in row chunks so
memory stays bounded (about `_PAIRS_PER_CHUNK` distances at a time) on full-size inputs.
"""
import torch

_PAIRS_PER_CHUNK = 1 << 22
_BLOCKS = 32  # neighbour searches cut the queries into this many blocks along x


@torch.no_grad()
def farthest_point_sampling(xyz: torch.Tensor, num_samples: int) -> torch.Tensor:
    """(B, N, 3) -> (B, num_samples) int64 indices of iterative farthest points, starting at point 0.

    Once every point is taken (num_samples > N) the remaining slots repeat index 0.
    """
    batch_size, num_points, _ = xyz.shape
    planes = xyz.permute(2, 0, 1).contiguous()  # (3, B, N): one contiguous plane per axis
    samples = torch.zeros(batch_size, num_samples, dtype=torch.long, device=xyz.device)
    nearest = torch.full((batch_size, num_points), float('inf'), device=xyz.device)
    distance = torch.empty(batch_size, num_points, device=xyz.device)
    difference = torch.empty_like(distance)
    farthest = torch.zeros(batch_size, 1, dtype=torch.long, device=xyz.device)
    for i in range(num_samples):
        samples[:, i:i + 1] = farthest
        centre = planes.gather(2, farthest.expand(3, -1, -1).contiguous())  # (3, B, 1)
        torch.sub(planes[0], centre[0], out=distance).square_()
        for axis in (1, 2):
            torch.sub(planes[axis], centre[axis], out=difference)
            distance.addcmul_(difference, difference)
        torch.minimum(nearest, distance, out=nearest)
        farthest = nearest.argmax(dim=1, keepdim=True)
    return samples


def gather_points(values: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """values (B, N, C) at index (B, ...) int64 -> (B, ..., C)."""
    batch = torch.arange(len(values), device=values.device).view(-1, *([1] * (index.dim() - 1)))
    return values[batch, index]


def _exhaustive_nearest(queries: torch.Tensor, xyz: torch.Tensor, k: int) -> torch.Tensor:
    """Indices (S, k) of the k nearest of xyz (N, 3) to each query (S, 3), by cdist in row chunks."""
    rows = max(1, _PAIRS_PER_CHUNK // max(1, len(xyz)))
    return torch.cat([torch.cdist(queries[start:start + rows], xyz).topk(k, dim=1, largest=False).indices
                      for start in range(0, len(queries), rows)])


def _nearest(queries: torch.Tensor, xyz: torch.Tensor, k: int, reach: float,
             exact: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices (B, S, k) of the k nearest of xyz (B, N, 3) to each query (B, S, 3), ascending.

    Neighbours within `reach` are exact, and so are the first `exact` neighbours of every query; farther
    neighbours may be missed. Queries are handled in blocks along x: a block only looks at the points whose x lies
    within `reach` of it, and a query whose `exact`-th neighbour is beyond reach is searched again over all points.
    cdist's fast matrix-product distances lose precision far from the origin (~1e-3 m^2 at 100 m), so they only
    pick the candidates; the returned distances are recomputed exactly from the coordinates.
    """
    batch_size, num_queries, _ = queries.shape
    k = min(k, xyz.shape[1])
    index = torch.empty(batch_size, num_queries, k, dtype=torch.long, device=xyz.device)
    block_size = max(64, -(-num_queries // _BLOCKS))
    for b in range(batch_size):
        point_order = xyz[b, :, 0].argsort()
        point_x = xyz[b, point_order, 0].contiguous()
        for block in queries[b, :, 0].argsort().split(block_size):
            block_x = queries[b, block, 0]
            first = int(torch.searchsorted(point_x, block_x.min() - reach))
            last = int(torch.searchsorted(point_x, block_x.max() + reach, right=True))
            candidates = point_order[first:last] if last - first >= k else point_order
            index[b, block] = candidates[_exhaustive_nearest(queries[b, block], xyz[b, candidates], k)]
        distance = torch.linalg.vector_norm(xyz[b, index[b, :, min(exact, k) - 1]] - queries[b], dim=1)
        far = (distance > reach).nonzero().squeeze(1)
        if len(far):
            index[b, far] = _exhaustive_nearest(queries[b, far], xyz[b], k)
    distance = torch.linalg.vector_norm(gather_points(xyz, index) - queries.unsqueeze(2), dim=3)
    distance, order = distance.sort(dim=2)
    return distance, index.gather(2, order)


@torch.no_grad()
def ball_query(xyz: torch.Tensor, centres: torch.Tensor, radius: float, num_neighbours: int) -> torch.Tensor:
    """The nearest points within `radius` of each centre: (B, S, num_neighbours) int64 indices into xyz (B, N, 3).

    Neighbours are sorted by distance. A centre with fewer than num_neighbours points in its ball repeats its
    nearest point in the remaining slots (a centre taken from xyz is its own nearest point), so every centre gets
    at least one neighbour even when its ball is empty.
    """
    distance, index = _nearest(centres, xyz, num_neighbours, reach=radius, exact=1)
    index = torch.where(distance > radius, index[..., :1], index)
    missing = num_neighbours - index.shape[2]  # xyz has fewer points than num_neighbours
    return torch.cat([index, index[..., :1].expand(-1, -1, missing)], dim=2) if missing else index


def group(xyz: torch.Tensor, features: torch.Tensor | None, centres: torch.Tensor, index: torch.Tensor,
          radius: float) -> torch.Tensor:
    """Neighbourhoods for a set abstraction: (B, S, K, 3 + C) offsets from the centre divided by radius, then
    the neighbours' features (xyz (B, N, 3), features (B, N, C) or None, centres (B, S, 3), index (B, S, K))."""
    offsets = (gather_points(xyz, index) - centres.unsqueeze(2)) / radius  # (B, S, K, 3)
    if features is None:
        return offsets
    return torch.cat([offsets, gather_points(features, index)], dim=3)


def three_nn_interpolate(unknown: torch.Tensor, known: torch.Tensor, known_features: torch.Tensor,
                         reach: float = float('inf')) -> torch.Tensor:
    """Features at unknown (B, n, 3) points: inverse-distance weighted mean of the 3 nearest known (B, m, 3)
    points' features (B, m, C) -> (B, n, C). With m < 3 it uses all m known points.

    `reach` (metres) only sets how far the search looks first: about the known points' spacing is fastest.
    """
    with torch.no_grad():
        distance, index = _nearest(unknown, known, 3, reach, exact=3)
        weight = 1.0 / (distance + 1e-8)
        weight = weight / weight.sum(dim=2, keepdim=True)  # (B, n, 3)
    return (gather_points(known_features, index) * weight.unsqueeze(3)).sum(dim=2)
