"""Which torch device a run uses: ``auto`` → CUDA when torch sees a GPU, else CPU."""

from __future__ import annotations

import torch

from ..errors import ParameterError
from ..validation import choice

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` picks ``cuda`` when available, else ``cpu``; ``"cuda"`` without a GPU is an
    error naming the parameter (never a silent fallback that would change timings)."""
    if isinstance(device, torch.device):
        device = device.type
    choice("device", device, DEVICES)
    has_cuda = torch.cuda.is_available()
    if device == "cuda" and not has_cuda:
        raise ParameterError("device", device, "CUDA is not available here; use 'auto' or 'cpu'")
    if device == "cpu" or not has_cuda:
        return torch.device("cpu")
    return torch.device("cuda")
