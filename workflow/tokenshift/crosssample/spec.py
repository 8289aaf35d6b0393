"""One cross-sampling run, described and checked once at the edge (the CLI or the Snakemake script).

Every user-facing value is validated in :class:`CrossSpec`'s constructor, with a
:class:`UserError` that names the field; the engines, the sweep and the dataset loop take
the spec and trust it. Named variants (engine, rule, noise, chunk policy, mode) are
resolved through the registries of :mod:`tokenshift.crosssample.variants`, so an unknown
name fails here too, listing the known ones.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import pairwise

# The implementations register themselves on import; the spec resolves names against them.
import tokenshift.crosssample.reference  # noqa: F401
from tokenshift.crosssample.context import Rule
from tokenshift.crosssample.fast import ChunkPolicy
from tokenshift.crosssample.rules import RandomPositions
from tokenshift.crosssample.variants import CHUNKS, ENGINES, MODES, NOISE, RULES
from tokenshift.errors import UserError
from tokenshift.evaluation.graders import GRADERS
from tokenshift.generation.sampler import SamplingParams

DTYPES = ("float32", "float64", "bfloat16", "float16")
# Who decodes each row's tail (its tokens after the budget is spent, plain sampling from the primary).
TAILS = ("hf", "vllm")


def _is_int(x: object) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def check_budgets(budgets: list[int] | tuple[int, ...]) -> list[int]:
    """Budgets must be integers >= 0, strictly increasing, starting at 0.

    A sweep runs the largest budget and forks the rest from it; budget 0 (the primary alone,
    with the same keyed noise and problems) is the initial accuracy of the targets table.
    """
    budgets = list(budgets)
    if not budgets:
        raise UserError("budget list is empty")
    for b in budgets:
        if not _is_int(b) or b < 0:
            raise UserError(f"budget must be an integer >= 0, got {b!r}")
    if any(b2 <= b1 for b1, b2 in pairwise(budgets)):
        raise UserError(f"budget list must be strictly increasing, got {budgets}")
    if budgets[0] != 0:
        raise UserError(f"budget list must start with 0 (the primary alone: the initial accuracy), got {budgets}")
    return budgets


def _positive_int(name: str, value: object) -> None:
    if not _is_int(value) or value < 1:
        raise UserError(f"crosssample {name} must be an integer >= 1, got {value!r}")


@dataclass(frozen=True)
class CrossSpec:
    """A cross-sampling sweep: what decides its tokens, and how the dataset is batched.

    ``budgets`` start at 0 and increase strictly; ``mode`` is ``targeted`` (switch where the
    ``rule``'s divergence exceeds ``eps``) or ``random`` (keyed-random positions at
    ``random_rate``, the targeted run's switch rate). ``n_samples``, ``batch_size``, ``limit``,
    ``grader``, ``dtype``, ``device`` and ``trust_remote_code`` only concern the dataset loop,
    its scoring and model loading. ``tail`` is ``hf`` (the keyed engine decodes every token) or
    ``vllm`` (rows stop where their budget is spent and vLLM decodes the rest: see :mod:`.sweep`).
    """

    eps: float
    budgets: tuple[int, ...]
    sampling: SamplingParams
    engine: str = "fast"
    rule: str = "js"
    noise: str = "independent"
    chunk: str = "fixed"
    chunk_size: int = 8
    max_chunk: int = 16
    mode: str = "targeted"
    random_rate: float | None = None
    n_samples: int = 8
    batch_size: int = 64
    limit: int | None = None
    grader: str = "organism"
    dtype: str = "float32"
    device: str = "auto"
    trust_remote_code: bool = False
    tail: str = "hf"
    chunk_policy: ChunkPolicy = field(init=False, repr=False, compare=False)
    intervention_stream: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.eps, bool) or not isinstance(self.eps, int | float) or not (
                math.isfinite(self.eps) and self.eps >= 0):
            raise UserError(f"crosssample eps must be a finite number >= 0, got {self.eps!r}")
        object.__setattr__(self, "eps", float(self.eps))
        object.__setattr__(self, "budgets", tuple(check_budgets(self.budgets)))
        if not isinstance(self.sampling, SamplingParams):
            raise TypeError("sampling must be a SamplingParams (it validates itself)")
        ENGINES.get(self.engine)
        GRADERS.get(self.grader)
        RULES.get(self.rule)
        MODES.get(self.mode)
        for name in ("chunk_size", "max_chunk", "n_samples", "batch_size"):
            _positive_int(name, getattr(self, name))
        if self.limit is not None:
            _positive_int("limit", self.limit)
        if self.mode == "random":
            if self.random_rate is None or not 0.0 <= self.random_rate <= 1.0:
                raise UserError(f"crosssample random_rate must be in [0, 1] in random mode, got {self.random_rate}")
        elif self.random_rate is not None:
            raise UserError(f"crosssample random_rate applies to mode 'random' only, not {self.mode!r}")
        if self.tail not in TAILS:
            raise UserError(f"crosssample tail must be one of {', '.join(TAILS)}, got {self.tail!r}")
        if self.dtype not in DTYPES:
            raise UserError(f"crosssample dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        object.__setattr__(self, "chunk_policy", CHUNKS.get(self.chunk)(self.chunk_size, self.max_chunk))
        object.__setattr__(self, "intervention_stream", NOISE.get(self.noise))

    @property
    def max_budget(self) -> int:
        """The budget of the sweep's one full run."""
        return self.budgets[-1]

    def switch_rule(self) -> Rule:
        """The rule object of this spec's mode (targeted: the named rule at eps; random: keyed positions)."""
        return MODES.get(self.mode)(self)


@MODES.register("targeted")
def _targeted(spec: CrossSpec) -> Rule:
    return RULES.get(spec.rule)(spec.eps)


@MODES.register("random")
def _random(spec: CrossSpec) -> RandomPositions:
    return RandomPositions(spec.sampling.seed, spec.random_rate, RULES.get(spec.rule).measure)
