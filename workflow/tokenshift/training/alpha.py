"""α of the divergence weighting by rollout step: a linear ramp (the paper ramps α from 0 to 50 starting at step
100 or 150). Free of torch, so that config validation at plan time checks a schedule without importing it."""

from __future__ import annotations

import math
from dataclasses import dataclass

from tokenshift.errors import UserError


@dataclass(frozen=True)
class AlphaSchedule:
    """α by rollout step: ``start_alpha`` until ``start``, then linear to ``end_alpha`` over ``ramp`` steps."""

    start_alpha: float = 0.0
    end_alpha: float = 0.0
    start: int = 0
    ramp: int = 0

    def __post_init__(self) -> None:
        if self.start < 0 or self.ramp < 0:
            raise UserError(f"alpha schedule: start and ramp must be >= 0, got {self.start}, {self.ramp}")
        if not (math.isfinite(self.start_alpha) and math.isfinite(self.end_alpha)):
            raise UserError(f"alpha schedule: start_alpha and end_alpha must be finite numbers, got "
                            f"{self.start_alpha}, {self.end_alpha}")

    def __call__(self, step: int) -> float:
        if step < self.start:
            return self.start_alpha
        if self.ramp == 0 or step >= self.start + self.ramp:
            return self.end_alpha
        return self.start_alpha + (self.end_alpha - self.start_alpha) * (step - self.start) / self.ramp
