"""Every config value must have the type of its default: the conf/ files are the schema.

An integer where the default is an integer (`n_train: 1000`), a number where it is a decimal
(`solver.rtol: 1.0e-8`; an integer is a number too), true/false where it is a boolean, a
non-empty text where it is a text, a list where it is a list. Keys whose default is null take
the types listed in NULLABLE (null included), and a few keys take a word besides their number
(EXTRA_WORDS). A group option's keys are typed by whichever option of the group defines them.
This runs first among a stage's checks, so that no bad type reaches code that converts it
(`float("abc")` raised a ValueError deep inside a family before this check existed).
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, ListConfig, OmegaConf

from surrogate.errors import UserError

GROUPS = {
    "generate": ("pde", "solver", "sort", "paths"),
    "train": ("model", "trainer", "logger", "paths"),
    "eval": ("paths",),
}
INTEGER, NUMBER, BOOLEAN, TEXT, LIST = "an integer", "a number", "true or false", "a text", "a list"
NULLABLE: dict[str, tuple[str, ...]] = {
    "shard": (TEXT,),
    "ckpt_path": (TEXT,),
    "data": (TEXT,),
    "pde.solve_resolution": (INTEGER,),
    "solver.initial_guess": (TEXT,),
    "pde.grf.alpha": (NUMBER,),
    "pde.grf.tau": (NUMBER,),
    "pde.grf.modes": (INTEGER,),
    "pde.initial.modes": (INTEGER,),
    "model.factorization": (TEXT,),
    "trainer.gradient_clip_val": (NUMBER,),
    "early_stopping.patience": (INTEGER,),
    "ema.decay": (NUMBER,),
    "logger.entity": (TEXT,),
}
EXTRA_WORDS = {"solver.omega": ("auto",)}
EXTRA_KINDS = {
    "trainer.precision": (INTEGER,),
    "shard": (INTEGER,),
}  # 32 for "32"; i/n parsed later
INTERPOLATED = ("paths.output_dir",)  # set by Hydra (or the tests), not by a user


def _kind(value: Any) -> str | None:
    if isinstance(value, bool):
        return BOOLEAN
    if isinstance(value, int):
        return INTEGER
    if isinstance(value, float):
        return NUMBER
    if isinstance(value, str):
        return TEXT
    if isinstance(value, (list, ListConfig)):
        return LIST
    return None


def _leaves(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict):
        found: dict[str, Any] = {}
        for key, value in node.items():
            found |= _leaves(value, f"{prefix}.{key}" if prefix else str(key))
        return found
    return {prefix: node}


@functools.cache
def schema(stage: str, config_dir: str) -> dict[str, tuple[str, ...]]:
    """{dotted key: accepted kinds} from the stage's file and every option of its groups."""
    conf = Path(config_dir)
    files = [(conf / f"{stage}.yaml", "")]
    files += [
        (path, group) for group in GROUPS[stage] for path in sorted((conf / group).glob("*.yaml"))
    ]
    kinds: dict[str, set[str]] = {}
    for path, group in files:
        raw = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        raw.pop("defaults", None)
        raw.pop("hydra", None)
        for key, default in _leaves(raw, group).items():
            if isinstance(default, str) and default.startswith("${oc."):
                kind = None  # a resolver's choice (optim.lr by model): typed by its own check
            elif isinstance(default, str) and ("${" in default or default == "???"):
                kind = TEXT  # an interpolation or a required value: typed as text
            else:
                kind = _kind(default)
            if kind is not None:
                kinds.setdefault(key, set()).add(kind)
            if kind == LIST and default:  # its elements: typed by the default's first one
                kinds.setdefault(f"{key}[]", set()).add(_kind(default[0]) or TEXT)
    return {key: tuple(sorted(found)) for key, found in kinds.items()}


def check_types(cfg: DictConfig, stage: str) -> None:
    """Refuse, in one line, the first value whose type is not its default's."""
    from surrogate.cli.app import config_dir

    expected = schema(stage, config_dir())
    values = _leaves(OmegaConf.to_container(cfg, resolve=True))
    for key, value in values.items():
        if key.startswith("hydra") or key in INTERPOLATED:
            continue
        kinds = NULLABLE.get(key) or expected.get(key)
        if kinds is None:  # added with +key=value: whatever reads it checks it
            continue
        kinds = (*kinds, *EXTRA_KINDS.get(key, ()))
        if value is None:
            if key in NULLABLE:
                continue
            raise UserError(f"{key} is required; pass {key}=<{' or '.join(kinds)}>")
        if isinstance(value, str) and value in EXTRA_WORDS.get(key, ()):
            continue
        _check_value(key, value, kinds)
        if _kind(value) == LIST and f"{key}[]" in expected:
            for index, element in enumerate(value):
                _check_value(f"{key}.{index}", element, expected[f"{key}[]"])


def _check_value(key: str, value: Any, kinds: tuple[str, ...]) -> None:
    kind = _kind(value)
    if kind == INTEGER and NUMBER in kinds:
        kind = NUMBER  # an integer is a number
    if kind not in kinds:
        words = " or ".join((*kinds, *EXTRA_WORDS.get(key, ())))
        hint = (
            f"; quote a number to use it as text: {key}='{value}'"
            if kinds == (TEXT,) and kind in (INTEGER, NUMBER)
            else ""
        )
        raise UserError(f"{key}={_shown(value)} must be {words}{hint}")
    if kind == TEXT and not value.strip():
        raise UserError(f"{key}='' must not be empty")


def _shown(value: Any) -> str:
    return repr(OmegaConf.to_container(value) if isinstance(value, ListConfig) else value)
