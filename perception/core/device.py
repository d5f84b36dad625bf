"""Device selection shared by every model user: CUDA when present, CPU otherwise."""
import torch


def select_device(name: str = 'auto') -> torch.device:
    """'auto' picks CUDA when available; an explicit 'cuda' without CUDA is an error."""
    if name == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    if name.startswith('cuda') and not torch.cuda.is_available():
        raise ValueError(f'device {name!r} requested but CUDA is not available')
    return torch.device(name)
