"""Command-line entry points: one Hydra app per stage and the `surrogate` dispatcher."""
