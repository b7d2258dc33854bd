"""Command-line entry points: one Hydra app per stage and the `surrogate` dispatcher."""

import warnings

# conf/hydra/launcher/submitit_*.yaml set our defaults for the submitit plugin's launcher configs
# of the same names; Hydra 1.3 (pinned) merges them onto the plugin's schema, as wanted, and warns
# each time that this matching by name is deprecated.
warnings.filterwarnings(
    "ignore",
    message=r"\s*'hydra/launcher/submitit_\w+' is validated against ConfigStore schema",
    category=UserWarning,
)
