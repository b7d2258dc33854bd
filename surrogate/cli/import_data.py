"""`surrogate import <format> <file> [<file> ...] name=<name> [key=value ...]`.

Brings datasets of other tools (neuraloperator's .pt, PDEBench's and The Well's HDF5) into
data/<name>/ (surrogate/data/importers.py). The key=value options are composed with Hydra
from conf/import.yaml, so they read, default and fail like every other stage's: a bad option, a
missing or foreign file is one line `error: ...`, exit 2, before anything is written.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from surrogate.checks import require_bool, require_float, require_int, require_name
from surrogate.cli.command import run_command
from surrogate.errors import Interrupted, UserError

FORMAT_OPTIONS = {"spatial_dims": "neuraloperator", "dt": "neuraloperator"}
USAGE = "usage: surrogate import {neuraloperator,pdebench,the_well} <file> [<file> ...] name=<name> [key=value ...]"


def help_text() -> str:
    from surrogate.cli.app import config_dir

    config = Path(config_dir(), "import.yaml").read_text()
    examples = [
        "examples:",
        "  surrogate import neuraloperator darcy_train_16.pt darcy_test_16.pt name=no_darcy16",
        "  surrogate import pdebench 1D_Advection_Sols_beta0.1.hdf5 name=advection n_test=1000",
        "  surrogate import the_well data/train/*.hdf5 data/valid/*.hdf5 data/test/*.hdf5 name=well",
    ]
    return "\n".join([USAGE, "", *examples, "", "options (conf/import.yaml):", config])


def split_arguments(args: list[str]) -> tuple[str, list[Path], list[str]]:
    """(format, files, overrides): files are the arguments before the first key=value."""
    kind, rest = args[0], args[1:]
    files = [Path(a) for a in rest if "=" not in a]
    overrides = [a for a in rest if "=" in a]
    if not files:
        raise UserError(f"no file to import; {USAGE}")
    first_option = next((i for i, a in enumerate(rest) if "=" in a), len(rest))
    if any("=" not in a for a in rest[first_option:]):
        raise UserError("give the files first, then the key=value options")
    # `split=train,test` is a list here, not a sweep over two values as Hydra would read it.
    return kind, files, [_as_list(o) if o.startswith("split=") else o for o in overrides]


def _as_list(override: str) -> str:
    value = override.partition("=")[2]
    return f"split=[{value}]" if "," in value and not value.startswith("[") else override


def compose_options(overrides: list[str]) -> DictConfig:
    """conf/import.yaml with the overrides; a composition error is a one-line UserError."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    from surrogate.cli.app import config_dir
    from surrogate.cli.config_errors import describe

    try:
        with initialize_config_dir(config_dir=config_dir(), version_base="1.3"):
            return compose("import", overrides=overrides)
    except HydraException as error:
        raise UserError(describe(error, "import")) from error


def check_options(cfg: DictConfig, kind: str, overrides: list[str]) -> None:
    require_name(cfg, "name")
    require_bool(cfg, "overwrite")
    if cfg.n_test is not None:
        require_int(cfg, "n_test", minimum=0)
    if cfg.spatial_dims is not None:
        dims = require_int(cfg, "spatial_dims", minimum=1)
        if dims > 3:
            raise UserError(f"spatial_dims={dims} must be 1, 2 or 3")
    require_float(cfg, "dt", above=0.0)
    if cfg.pde is not None:
        require_name(cfg, "pde")
    given = {o.partition("=")[0].lstrip("+") for o in overrides}
    for key, owner in FORMAT_OPTIONS.items():
        if key in given and kind != owner:
            raise UserError(f"{key}= applies to the {owner} format only, not {kind}")


def run(kind: str, files: list[Path], cfg: DictConfig) -> dict[str, int]:
    from surrogate.data.formats.source import ReadOptions
    from surrogate.data.importers import import_files

    split = OmegaConf.to_container(cfg.split) if cfg.split is not None else None
    if split is not None and not isinstance(split, list):
        split = [split]
    options = ReadOptions(
        spatial_dims=cfg.spatial_dims, dt=float(cfg.dt), pde=None if cfg.pde is None else cfg.pde
    )
    directory = Path(cfg.paths.data_dir) / str(cfg.name)
    return import_files(kind, files, directory, split, cfg.n_test, bool(cfg.overwrite), options)


def _stop(signum: int, frame: object) -> None:
    """Ctrl-C or SIGTERM: the import stops and removes what it had written."""
    word = "terminated" if signum == signal.SIGTERM else "interrupted"
    raise Interrupted(f"import {word}; nothing was written, run the same command again", signum)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in ("-h", "--help"):
        print(help_text())
        sys.exit(0 if args else 2)
    previous = {signum: signal.signal(signum, _stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        kind, files, overrides = split_arguments(args)
        cfg = compose_options(overrides)
        check_options(cfg, kind, overrides)
        sizes = run(kind, files, cfg)
    except UserError as error:
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise
        print(f"error: {error}", file=sys.stderr, flush=True)
        sys.exit(error.exit_code)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    counts = ", ".join(f"{n} {split}" for split, n in sizes.items())
    print(f"imported {len(files)} file(s) into {cfg.paths.data_dir}/{cfg.name}: {counts} samples")


if __name__ == "__main__":
    run_command(main)
