"""Generated datasets: problem sets a run synthesises from a seed instead of reading from disk.

A generator is ``fn(split, n, seed, **options) -> list[dict]`` returning rows with problem_id
(0..n-1), problem, answer and solution (a worked reference answer, the target of SFT). The
train and eval splits of one generator and seed never share a problem text, so an eval set
measures what training did not show, and a split is a pure function of its arguments, so
every rule that regenerates it gets the same rows.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator

from tokenshift.data.organism import solution, split_problems
from tokenshift.errors import UserError
from tokenshift.registry import Registry

Generator = Callable[..., list[dict]]
GENERATORS: Registry[Generator] = Registry("dataset generator")
SPLITS = ("train", "eval")


def _other_split(split: str) -> str:
    """The split that must stay disjoint from ``split``; a UserError for an unknown split."""
    if split not in SPLITS:
        raise UserError(f"split must be {' or '.join(map(repr, SPLITS))} for a generated dataset, not {split!r}")
    return SPLITS[1 - SPLITS.index(split)]


@GENERATORS.register("organism")
def organism(split: str, n: int, seed: int, n_train: int | None = None, n_eval: int | None = None,
             min_steps: int = 3, max_steps: int = 5) -> list[dict]:
    """The model organism's addition chains, exactly as ``split_problems`` draws them.

    Both splits are slices of one pool whose size depends on both split sizes (eval first),
    so the other split's size is a required option (``n_eval`` for train, ``n_train`` for
    eval); the requested split's size is ``n`` (an option for it, if given, must agree).
    """
    other = _other_split(split)
    sizes = {"train": n_train, "eval": n_eval}
    if sizes[split] is not None and sizes[split] != n:
        raise UserError(f"organism generator: option n_{split}={sizes[split]} contradicts n={n}")
    if sizes[other] is None:
        raise UserError(f"organism generator: option n_{other} is needed for the {split} split "
                        f"(both splits are slices of one pool)")
    sizes[split] = n
    train, evals = split_problems(sizes["train"], sizes["eval"], seed, min_steps, max_steps)
    return [{"problem_id": p.problem_id, "problem": p.prompt, "answer": str(p.answer), "solution": solution(p)}
            for p in (train if split == "train" else evals)]


ADD_TEMPLATES = (
    "What is {a} + {b}?",
    "Tom has {a} apples. He buys {b} more. How many apples does he have now?",
    "There are {a} birds on a tree. {b} more birds land on it. How many birds are on the tree now?",
    "A box holds {a} pencils. Anna puts {b} more pencils in it. How many pencils are in the box?",
    "Add {a} and {b}. What number do you get?",
)
SUB_TEMPLATES = (
    "What is {a} - {b}?",
    "Sara had {a} stickers and gave away {b}. How many are left?",
    "There are {a} birds on a tree. {b} birds fly away. How many birds are still on the tree?",
    "A shop had {a} cakes and sold {b} of them. How many cakes does the shop have left?",
    "Subtract {b} from {a}. What number do you get?",
)
TEMPLATES = {"+": ADD_TEMPLATES, "-": SUB_TEMPLATES}
EVAL_SHARE = 0.25  # fraction of the (a, op, b) sums reserved for the eval split


def _split_of(seed: int, key: str) -> str:
    """The split a sum belongs to: a seeded hash, so neither split's size moves the other's rows."""
    digest = hashlib.blake2b(f"{seed}:{key}".encode(), digest_size=8).digest()
    return "eval" if int.from_bytes(digest, "big") < EVAL_SHARE * 2**64 else "train"


@GENERATORS.register("arithmetic")
def arithmetic(split: str, n: int, seed: int, min_a: int = 10, max_a: int = 99, min_b: int = 2, max_b: int = 9,
               ops: list[str] | tuple[str, ...] = ("+",)) -> list[dict]:
    """One-step word problems ("Tom has 23 apples. He buys 5 more. ...") for a small instruct LLM.

    Each sum ``a op b`` belongs to one split by a seeded hash, so no eval sum is ever trained
    on, in any wording; a split takes the first ``n`` distinct texts of its sums from one
    seeded stream. Subtractions with a negative result are never drawn. The solution states the
    sum and "The answer is N.", which the math grader reads.
    """
    _other_split(split)
    if not ops or not set(ops) <= set(TEMPLATES):
        raise UserError(f"arithmetic generator: ops must be a non-empty list of {sorted(TEMPLATES)}, not {ops!r}")
    if min_a > max_a or min_b > max_b or min(min_a, min_b) < 0:
        raise UserError(f"arithmetic generator: bad operand ranges a={min_a}..{max_a}, b={min_b}..{max_b}")
    pairs = {"+": (max_a - min_a + 1) * (max_b - min_b + 1),
             "-": sum(max(0, max_a - max(min_a, b) + 1) for b in range(min_b, max_b + 1))}
    capacity = sum(pairs[op] * len(TEMPLATES[op]) for op in set(ops))
    if n > capacity:  # fail at once rather than after a long fruitless search
        raise UserError(f"arithmetic generator: the operand ranges hold {capacity} distinct problems in all, "
                        f"fewer than n={n}; widen them or add ops")
    rows: list[dict] = []
    seen: set[str] = set()
    for problem, answer, key in _draws(random.Random(seed), min_a, max_a, min_b, max_b, tuple(ops), 50 * n + 10_000):
        if _split_of(seed, key) == split and problem not in seen:
            seen.add(problem)
            rows.append({"problem_id": len(rows), "problem": problem, "answer": str(answer),
                         "solution": f"{key} = {answer}. The answer is {answer}."})
            if len(rows) == n:
                return rows
    raise UserError(f"arithmetic generator: only {len(rows)} distinct {split} problems for n={n}; "
                    f"widen the operand ranges or add ops")


def _draws(rng: random.Random, min_a: int, max_a: int, min_b: int, max_b: int, ops: tuple[str, ...],
           limit: int) -> Iterator[tuple[str, int, str]]:
    """Up to ``limit`` random (problem text, answer, sum key) draws; negative differences are skipped."""
    for _ in range(limit):
        a, b, op = rng.randint(min_a, max_a), rng.randint(min_b, max_b), rng.choice(ops)
        template = rng.choice(TEMPLATES[op])
        answer = a + b if op == "+" else a - b
        if answer >= 0:
            yield template.format(a=a, b=b), answer, f"{a} {op} {b}"
