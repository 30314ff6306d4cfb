"""The results store's tables, version 2 (documented in docs/results-schema.md).  A version-1 store is
written again as version 2 once (`regclip-bench migrate`, results/migrate.py); nothing else reads it."""

from __future__ import annotations

import pyarrow as pa

from ..kinds import METRICS
from ..optim.registry import OPTIMIZERS
from ..summary import columns as summary_columns

SCHEMA_VERSION = 2
VERSION_KEY = b"regclip_bench.schema_version"
TABLES = ("steps", "evals", "trials", "sweeps")
PARTITION = "task"  # hive-style directories: <table>/task=<task>/<sweep_id>.parquet

_KEYS = [("sweep_id", pa.string()), ("trial_id", pa.string())]
_F, _I, _S, _B = pa.float64(), pa.int64(), pa.string(), pa.bool_()

STEPS = pa.schema(_KEYS + [
    ("step", _I), ("loss", _F), ("loss_avg", _F), ("best_loss", _F), ("grad_norm", _F),
    ("step_size", _F), ("clip_factor", _F), ("regime", _S), ("frac_unclipped", _F),
    ("frac_clipped", _F), ("frac_floor", _F), ("pl_ratio", _F), ("dist_from_init", _F), ("lr", _F),
    ("examples_per_s", _F), ("nonfinite", _B), ("nonfinite_steps", _I), ("rel_dist_from_init", _F),
    ("sharpness", _F), ("sharpness_limit", _F), ("sharpness_floor_limit", _F),
    ("update_norm", _F), ("effective_step", _F),   # ‖Δw‖ and ‖Δw‖/‖g‖, measured outside the optimizer
])

EVALS = pa.schema(_KEYS + [("step", _I), ("epoch", _F)] + [(m, _F) for m in METRICS])

# The built-in optimizers' hyperparameters, one column each (a plug-in's are in config_json).
HYPERPARAMETER_COLUMNS = list(dict.fromkeys((h.name, {float: _F, int: _I, bool: _B}[h.kind])
                                            for entry in OPTIMIZERS.values() for h in entry.hyperparameters))
CONFIG_COLUMNS = [("optimizer", _S), ("width", _I), ("depth", _I), *HYPERPARAMETER_COLUMNS, ("seed", _I),
                  ("steps", _I), ("epochs", _I), ("batch_size", _S)]
SUMMARY_COLUMNS = [(name, {str: _S, int: _I, float: _F}[kind]) for name, kind in summary_columns()]
IDENTITY_COLUMNS = [("workload_key", _S), ("config_key", _S), ("workload", _S), ("workload_json", _S)]
TRIALS = pa.schema(_KEYS + [("config_hash", _S)] + IDENTITY_COLUMNS + CONFIG_COLUMNS + SUMMARY_COLUMNS
                   + [("config_json", _S)])

SWEEPS = pa.schema([("sweep_id", _S), ("name", _S), ("modes", _S), ("n_trials", _I),
                    ("first_started", _S), ("last_finished", _S), ("aggregated", _S), ("runs_json", _S)])

SCHEMAS = {"steps": STEPS, "evals": EVALS, "trials": TRIALS, "sweeps": SWEEPS}
