"""The organism's task generator, slips and verifier."""

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.data.organism import (
    Problem,
    extract_answer,
    make_problems,
    parse_prompt,
    solution,
    split_problems,
    verify,
)
from tokenshift.errors import UserError


def _eval_chain(text: str) -> int:
    """Independent evaluation of a prompt like '12+34-5=' by Python's own parser."""
    return eval(text.rstrip("="))  # noqa: S307 - digits and +/- only


@given(st.integers(0, 10_000))
@settings(max_examples=50, deadline=None)
def test_clean_solution_is_correct_and_consistent(seed):
    (p,) = split_problems(1, 1, seed, 3, 5)[1]
    sol = solution(p)
    assert p.answer == _eval_chain(p.prompt)
    assert verify(sol, p.answer)
    # every step line is itself true arithmetic
    for step in sol.split(";")[:-1]:
        lhs, rhs = step.split("=")
        assert _eval_chain(lhs) == int(rhs)


def test_slips_are_forgotten_carries_only():
    rng = random.Random(0)
    train, _ = split_problems(300, 10, 1, 3, 5)
    n_wrong = 0
    for p in train:
        sol = solution(p, rng, slip_prob=1.0)
        for step in sol.split(";")[:-1]:
            lhs, rhs = step.split("=")
            err = int(rhs) - _eval_chain(lhs)
            assert err in (0, -10)
        n_wrong += not verify(sol, p.answer)
    assert n_wrong > 250  # with every carry forgotten nearly every chain ends wrong


@given(st.integers(0, 10_000), st.floats(0.0, 1.0))
@settings(max_examples=100, deadline=None)
def test_answer_is_wrong_iff_a_step_slipped(seed, slip_prob):
    """Slips never cancel, so the reward tells RL exactly whether any carry was forgotten."""
    (p,) = split_problems(1, 1, seed, 3, 5)[1]
    noisy = solution(p, random.Random(seed), slip_prob)
    slipped = noisy.split(";")[:-1] != solution(p).split(";")[:-1]
    assert verify(noisy, p.answer) == (not slipped)


def test_slip_rate_matches_probability():
    rng = random.Random(3)
    train, _ = split_problems(2000, 10, 2, 1, 1)
    slips = carries = 0
    for p in train:
        clean, noisy = solution(p), solution(p, rng, 0.35)
        if clean.split(";")[0] != solution(p, random.Random(0), 1.0).split(";")[0]:
            carries += 1
            slips += clean != noisy
    assert carries > 500
    assert abs(slips / carries - 0.35) < 0.05


def test_split_has_no_overlap_and_is_seeded():
    train, evals = split_problems(500, 100, 7, 3, 5)
    assert not {p.prompt for p in train} & {p.prompt for p in evals}
    assert [p.prompt for p in split_problems(500, 100, 7, 3, 5)[1]] == [p.prompt for p in evals]
    assert [p.problem_id for p in evals] == list(range(100))


def test_verifier_and_parser():
    assert extract_answer("1+2=3;#3") == "3"
    assert extract_answer("no marker") is None
    assert verify("5-9=-4;#-4", -4) and not verify("5-9=-4;#4", -4)
    assert not verify("", 3)
    p = Problem(0, (23, 45, 17, 8), ("+", "+", "+"))
    assert p.prompt == "23+45+17+8="
    assert solution(p) == "23+45=68;68+17=85;85+8=93;#93"
    assert solution(p, random.Random(0), 1.0) == "23+45=68;68+17=75;75+8=73;#73"
    assert parse_prompt(0, p.prompt) == p


def test_the_last_marker_is_the_final_answer():
    """A response graded on what it finally answers, not on an earlier marked number."""
    assert extract_answer("12+34=46;#56;12+34=46;#46") == "46"
    assert verify("12+34=46;#56;#46", 46) and not verify("12+34=46;#46;#56", 46)
    assert extract_answer("#-3;#7") == "7" and extract_answer("#") is None and extract_answer("#x;#-12") == "-12"


@given(st.lists(st.integers(-999, 999), min_size=1, max_size=5), st.text(alphabet="0123456789+=;", max_size=8))
@settings(max_examples=100, deadline=None)
def test_extract_answer_takes_the_last_of_several_markers(numbers, filler):
    text = filler + filler.join(f"#{n}" for n in numbers)
    assert int(extract_answer(text)) == numbers[-1]


def test_bad_problem_specs_are_user_errors():
    with pytest.raises(UserError, match="bad problem spec"):
        make_problems(5, 0, 3, 2)
    with pytest.raises(UserError, match="not enough distinct problems"):
        split_problems(9000, 10, 0, 1, 1)  # only 90 * 90 one-step chains exist
