"""surrogate: generate PDE datasets, train neural operators on them, evaluate them."""

__version__ = "0.1.0"
