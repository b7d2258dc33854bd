"""What a PDE family provides to the generator."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp


@dataclass
class Problem:
    """One sample's linear system and what is stored of it besides the solution.

    `inputs` are the fields the operator maps from, shape (C_in, *spatial); `params` are scalar
    per-sample parameters recorded in the dataset; `features` is what sorting compares.
    """

    matrix: sp.csr_matrix
    rhs: np.ndarray
    inputs: np.ndarray
    features: np.ndarray
    params: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class FieldSpec:
    """Names and shapes of a family's stored fields."""

    input_names: tuple[str, ...]
    output_names: tuple[str, ...]
    spatial_shape: tuple[int, ...]
    param_names: tuple[str, ...] = ()
