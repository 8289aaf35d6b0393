"""Cross-sampling (paper §3, App. A.5): generate with a primary policy, let the other policy
draw the token where their top-p distributions diverge, up to a budget of switches."""

from tokenshift.crosssample.engine import EngineStats, cross_sample_batch
from tokenshift.crosssample.fast import ChunkPolicy
from tokenshift.crosssample.rules import JSThreshold, KLThreshold, RandomPositions
from tokenshift.crosssample.run import CrossConfig, cross_sample_dataset, switch_rate
from tokenshift.crosssample.state import CrossResult, Switch
from tokenshift.crosssample.sweep import SweepStats, check_budgets, sweep_batch

__all__ = [
    "ChunkPolicy",
    "CrossConfig",
    "CrossResult",
    "EngineStats",
    "JSThreshold",
    "KLThreshold",
    "RandomPositions",
    "SweepStats",
    "Switch",
    "check_budgets",
    "cross_sample_batch",
    "cross_sample_dataset",
    "sweep_batch",
    "switch_rate",
]
