"""Cross-sampling (paper §3, App. A.5): generate with a primary policy, let the other policy
draw the token where their top-p distributions diverge, up to a budget of switches."""

from .engine import EngineStats, cross_sample_batch
from .fast import ChunkPolicy
from .rules import JSThreshold, KLThreshold, RandomPositions
from .run import CrossConfig, cross_sample_dataset, switch_rate
from .state import CrossResult, Switch
from .sweep import SweepStats, check_budgets, sweep_batch

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
