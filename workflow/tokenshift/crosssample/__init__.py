"""Cross-sampling (paper §3, App. A.5): generate with a primary policy, let the other policy
draw the token where their top-p distributions diverge, up to a budget of switches."""

from tokenshift.crosssample.engine import EngineStats, cross_sample_batch
from tokenshift.crosssample.fast import AdaptiveChunks, ChunkPolicy, FixedChunks
from tokenshift.crosssample.rules import JSThreshold, KLThreshold, RandomPositions
from tokenshift.crosssample.run import cross_sample_dataset, switch_rate
from tokenshift.crosssample.spec import CrossSpec, check_budgets
from tokenshift.crosssample.state import CrossResult, Switch
from tokenshift.crosssample.sweep import SweepStats, sweep_batch
from tokenshift.crosssample.variants import CHUNKS, ENGINES, MODES, NOISE, RULES

__all__ = [
    "CHUNKS",
    "ENGINES",
    "MODES",
    "NOISE",
    "RULES",
    "AdaptiveChunks",
    "ChunkPolicy",
    "CrossResult",
    "CrossSpec",
    "EngineStats",
    "FixedChunks",
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
