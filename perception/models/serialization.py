"""How shipped weights files store tensors."""
from torch import nn


def compact_state_dict(module: nn.Module) -> dict:
    """The module's state with floating-point tensors in float16: half the size of a shipped weights file, no
    measurable change in inference (load_state_dict casts back to the parameters' float32)."""
    return {k: v.detach().cpu().half() if v.is_floating_point() else v.cpu() for k, v in module.state_dict().items()}
