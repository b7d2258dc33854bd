"""Modules whose code runs on first use, for heavy imports that some runs never need: the
compiled kernels pull in numba (about 0.5 s per process), which `generate` with the direct or
AMG solvers (`solver=auto`'s usual picks) never calls; each solver worker pays the import too."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module `name`, executed at its first attribute access (`importlib.util.LazyLoader`);
    if it is imported already, that module."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
