"""surrogate: generate PDE datasets, train neural operators on them, evaluate them.

In Python: `surrogate.load(path)` gives a trained model that predicts on numpy arrays or torch
tensors in physical units; `surrogate.open_dataset(path, split)` reads a split (surrogate/api.py).
Both are imported on first use, so `import surrogate` stays light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["load", "open_dataset"]

if TYPE_CHECKING:
    from surrogate.api import load, open_dataset


def __getattr__(name: str) -> Any:
    if name in __all__:
        from surrogate import api

        return getattr(api, name)
    raise AttributeError(f"module 'surrogate' has no attribute {name!r}")
