"""Keep PyTorch CUDA, ROCm and CPU builds out of poetry.lock and out of Poetry's installer."""

from __future__ import annotations


__version__ = "0.1.0"
