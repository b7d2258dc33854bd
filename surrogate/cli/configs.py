"""Where the stage configs (`conf/`) live; imported by the apps and by their error reports."""

from __future__ import annotations

from pathlib import Path


def config_dir() -> str:
    """The `conf/` directory: the repository's in a source checkout, the packaged copy in a wheel."""
    package_dir = Path(__file__).resolve().parent.parent
    for candidate in (package_dir.parent / "conf", package_dir / "conf"):
        if (candidate / "train.yaml").is_file():
            return str(candidate)
    raise RuntimeError(f"surrogate's conf/ directory is missing next to {package_dir}")
