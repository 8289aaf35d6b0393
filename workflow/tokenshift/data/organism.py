"""The model organism's verifiable task: chains of two-digit additions.

A problem ``23+45+17+8=`` is answered with running totals, ``23+45=68;68+17=85;85+8=93;#93``.
Operands and operators are copied from the prompt (near-deterministic tokens); the step
results are the decision points. Imperfect SFT data forgets the units carry with some
probability, so the base model learns a specific, fixable mistake that RL can remove:
a sparse, located shift, the phenomenon the paper studies. Every slip lowers the total by
ten, so two slips never cancel and the final answer is right iff no step slipped.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

import polars as pl

from tokenshift.errors import UserError

ANSWER_MARKER = "#"
_ANSWER_RE = re.compile(r"#(-?\d+)")


@dataclass(frozen=True)
class Problem:
    """One arithmetic chain: its prompt text and the true final answer."""

    problem_id: int
    operands: tuple[int, ...]
    ops: tuple[str, ...]

    @property
    def prompt(self) -> str:
        """The chain as the model sees it, ``23+45+17=``."""
        parts = [str(self.operands[0])]
        for op, x in zip(self.ops, self.operands[1:]):
            parts.append(f"{op}{x}")
        return "".join(parts) + "="

    @property
    def answer(self) -> int:
        """The true final total (what the verifier expects after ``#``)."""
        total = self.operands[0]
        for op, x in zip(self.ops, self.operands[1:]):
            total = total + x if op == "+" else total - x
        return total


def _carry_slip(a: int, op: str, b: int) -> int | None:
    """The result with the units carry forgotten, or None if the step has no carry."""
    if op == "+" and a % 10 + b % 10 >= 10:
        return a + b - 10
    return None


def solution(problem: Problem, rng: random.Random | None = None, slip_prob: float = 0.0) -> str:
    """Worked solution; with ``rng`` each units carry is forgotten with ``slip_prob``.

    A slipped step carries its wrong total forward, so the chain stays self-consistent
    and only the slipped result is wrong, as in a real human mistake.
    """
    total = problem.operands[0]
    steps = []
    for op, x in zip(problem.ops, problem.operands[1:]):
        result = total + x if op == "+" else total - x
        slip = _carry_slip(total, op, x)
        if rng is not None and slip is not None and rng.random() < slip_prob:
            result = slip
        steps.append(f"{total}{op}{x}={result};")
        total = result
    return "".join(steps) + f"{ANSWER_MARKER}{total}"


def make_problems(n: int, seed: int, min_steps: int, max_steps: int, start_id: int = 0) -> list[Problem]:
    """``n`` random chains of ``min_steps``..``max_steps`` two-digit additions.

    Totals grow past 99 (three digits at the default 3-5 steps); about half the steps
    carry from the units column, so a problem has one or two decision points on average.
    """
    if n < 0 or min_steps < 1 or max_steps < min_steps:
        raise UserError(f"bad problem spec: n={n}, steps={min_steps}..{max_steps}")
    rng = random.Random(seed)
    out = []
    for i in range(n):
        k = rng.randint(min_steps, max_steps)
        operands = tuple(rng.randint(10, 99) for _ in range(k + 1))
        out.append(Problem(start_id + i, operands, ("+",) * k))
    return out


def split_problems(
    n_train: int, n_eval: int, seed: int, min_steps: int, max_steps: int
) -> tuple[list[Problem], list[Problem]]:
    """Disjoint train and eval sets: eval prompts never appear in train."""
    pool = make_problems(4 * (n_train + n_eval) + 16, seed, min_steps, max_steps)
    seen: set[str] = set()
    unique = []
    for p in pool:
        if p.prompt not in seen:
            seen.add(p.prompt)
            unique.append(p)
    if len(unique) < n_train + n_eval:
        raise UserError(f"not enough distinct problems for {n_train} train + {n_eval} eval problems of "
                        f"{min_steps}..{max_steps} steps")
    eval_set = [Problem(i, p.operands, p.ops) for i, p in enumerate(unique[:n_eval])]
    train = [Problem(i, p.operands, p.ops) for i, p in enumerate(unique[n_eval : n_eval + n_train])]
    return train, eval_set


def extract_answer(response: str) -> str | None:
    """The number after the last marker (the final answer), or None if the response has none.

    The last, not the first: a response that marks an intermediate result and then corrects
    itself is graded on what it finally answers.
    """
    found = _ANSWER_RE.findall(response)
    return found[-1] if found else None


def verify(response: str, answer: str | int) -> bool:
    """True iff the response's marked final answer equals the reference answer."""
    got = extract_answer(response)
    return got is not None and int(got) == int(answer)


def parse_prompt(problem_id: int, prompt: str) -> Problem:
    """Inverse of ``Problem.prompt``."""
    body = prompt.rstrip("=")
    tokens = re.findall(r"[+-]?\d+", body)
    operands = [int(tokens[0])] + [abs(int(t)) for t in tokens[1:]]
    ops = [t[0] for t in tokens[1:]]
    return Problem(problem_id, tuple(operands), tuple(ops))


def problems_from_frame(df: pl.DataFrame) -> list[Problem]:
    """Problems from a prepared dataset table (problem_id, problem, ...): the problem text, not the
    rendered prompt, which a template may have wrapped."""
    return [parse_prompt(i, p) for i, p in zip(df["problem_id"].to_list(), df["problem"].to_list())]
