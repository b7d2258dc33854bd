"""Reading a whole split once before it is used, so a damaged file fails before any work.

Split files store their fields with Fletcher-32 checksums: a flipped bit makes the sample fail
to read instead of silently giving wrong numbers. Non-finite values (which no solver should
produce) are refused too, since they would turn a training loss into NaN.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from surrogate.errors import UserError

FIELDS = ("inputs", "outputs")


def verify_samples(file: h5py.File, path: Path, block: int = 64) -> None:
    """Read every sample of `file`; the first unreadable or non-finite one is a UserError."""
    for key in FIELDS:
        data = file[key]
        for start in range(0, data.shape[0], block):
            stop = min(start + block, data.shape[0])
            try:
                values = data[start:stop]
            except (OSError, RuntimeError):
                _find_unreadable(data, path, range(start, stop))
                raise
            finite = np.isfinite(values.reshape(stop - start, -1)).all(axis=1)
            if not finite.all():
                index = start + int(np.argmin(finite))
                raise UserError(
                    f"{path}: {key} of sample {index} has non-finite values (inf or nan); "
                    "delete the file and generate it again"
                )


def _find_unreadable(data: h5py.Dataset, path: Path, indices: range) -> None:
    """Raise a UserError naming the first sample of `indices` that cannot be read."""
    for index in indices:
        try:
            data[index]
        except (OSError, RuntimeError) as error:
            reason = str(error).splitlines()[0]
            raise UserError(
                f"{path} is damaged: {data.name[1:]} of sample {index} cannot be read ({reason}); "
                "delete it and generate it again"
            ) from error
