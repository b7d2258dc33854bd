"""The registry of neural operators: `@MODELS.register(name)` on the class, in its own module.

Every model is built as `Model(in_channels, out_channels, n_dims, **hyper_parameters)`. A
model whose learned weights are tied to the grid spacing it was trained on sets
`resolution_dependent = True` (evaluated on another grid it sees other physical scales: eval
warns).
"""

from __future__ import annotations

from surrogate.registry import Registry

MODELS: Registry[type] = Registry("model", "surrogate.models")
