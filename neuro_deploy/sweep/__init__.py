"""``neuro-deploy sweep CONFIG.yaml``: a grid of cells (models x data sets x profiles x
backends, or training methods x seeds), each one task of :mod:`neuro_deploy.cluster`,
written to one JSON/CSV table and a comparison report, resumable after an interruption.
See :mod:`neuro_deploy.sweep.config` for the YAML and :mod:`neuro_deploy.sweep.run` for
the outputs."""

from neuro_deploy.sweep.config import SWEEP_SCHEMA, Cell, SweepConfig, load_sweep_config, sweep_config
from neuro_deploy.sweep.run import CELL_KINDS, SweepResult, output_paths, run_sweep

__all__ = [
    "CELL_KINDS",
    "SWEEP_SCHEMA",
    "Cell",
    "SweepConfig",
    "SweepResult",
    "load_sweep_config",
    "output_paths",
    "run_sweep",
    "sweep_config",
]
