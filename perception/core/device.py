"""What every model user shares about the device: selection (CUDA when present, CPU otherwise) and stage timing
that waits for the device, so asynchronous CUDA work is counted in the stage that queued it."""
import time
from contextlib import contextmanager

import torch
from threadpoolctl import threadpool_limits


def select_device(name: str = 'auto') -> torch.device:
    """'auto' picks CUDA when available; an explicit 'cuda' without CUDA is an error."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} requested but CUDA is not available')
    return torch.device(name)


def single_threaded_blas() -> threadpool_limits:
    """Cap this process's BLAS thread pool (OpenBLAS, under numpy) at one thread. Our numpy matrix products are
    small (N x 3 points by a 3 x 3 rotation): extra BLAS threads gain little even on an idle machine, and beside
    the model processes they wait for cores (replay of drive 3000 on 2 cores: 2.7 -> 3.0-3.2 frames/s). Called by
    the graph's and the replay's processes, not on import; as a context manager it restores the setting after."""
    return threadpool_limits(1, user_api='blas')


def use_threads(count: int) -> None:
    """Run the calling thread's torch operations on `count` intra-op threads. OpenMP's thread count belongs to
    the calling thread, so two threads of one process can run two models with their own counts; ATen initialises
    a thread's count lazily from the last process-wide setting, hence the read before the write."""
    torch.get_num_threads()
    torch.set_num_threads(count)


class StageTimer:
    """Milliseconds per stage of one pass through a pipeline, plus 'total' since construction:

        timer = StageTimer(device, stages=('inference',))   # stages listed here start at 0.0 (skipped ones)
        with timer('inference'):
            ...
        timing_ms = timer.finish()

    On CUDA each stage (and the total) ends with torch.cuda.synchronize, so the time of kernels a stage queued is
    not billed to a later stage or left out."""

    def __init__(self, device: torch.device | str = 'cpu', stages: tuple[str, ...] = ()):
        self.device = torch.device(device)
        self.ms = {stage: 0.0 for stage in stages}
        self._start = time.perf_counter()

    def _elapsed_ms(self, since: float) -> float:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
        return (time.perf_counter() - since) * 1e3

    @contextmanager
    def __call__(self, stage: str):
        tick = time.perf_counter()
        yield
        self.ms[stage] = self._elapsed_ms(tick)

    def finish(self) -> dict[str, float]:
        """The stage times with 'total' added."""
        self.ms['total'] = self._elapsed_ms(self._start)
        return self.ms
