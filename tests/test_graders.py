"""Graders on real answer formats, adversarial text, time limits, threads, and the registry."""

import signal
import threading
from fractions import Fraction

import latex2sympy2_extended.latex2sympy2 as l2s
import math_verify.parser
import polars as pl
import pytest
import sympy.parsing.sympy_parser as sympy_parser
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.data.organism import extract_answer, verify
from tokenshift.errors import UserError
from tokenshift.evaluation import graders
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.evaluation.graders import GRADERS, Grade, Grades, grade, last_boxed

MATH = [  # response, reference, correct, parsed
    (r"so the answer is \boxed{\frac{1}{2}}", "0.5", True, True),
    (r"\boxed{42}", "42.0", True, True),
    ("The answer is 7", "7", True, True),
    ("The answer is 7.", "7.0", True, True),
    ("Answer: 3/4", r"\frac{3}{4}", True, True),
    (r"\boxed{\dfrac{3}{4}}", r"\frac{3}{4}", True, True),
    (r"\boxed{0.75}", r"\frac{3}{4}", True, True),
    (r"We get $\sqrt{2}$.", r"$\sqrt{2}$", True, True),
    (r"\boxed{\sqrt{2}}", r"$\sqrt{2}$", True, True),
    (r"The final answer is $\frac{3}{4}$. I hope it is correct.", r"\frac{3}{4}", True, True),
    (r"first \boxed{3}, then on reflection \boxed{42}", "42", True, True),  # the last box
    (r"\boxed{\{1, 2\}} is wrong, it is \boxed{x = 2}", "2", True, True),
    (r"Since $x=3$, there are 7 apples left.", "7", True, True),  # the later of LaTeX and a number
    ("It costs $1,234.", "1234", True, True),
    (r"\boxed{-5}", "-5", True, True),
    (r"\boxed{43}", "42", False, True),
    ("The answer is 8", "7", False, True),
    (r"\boxed{\frac{1}{3}}", "0.5", False, True),
    ("I don't know.", "42", False, False),
    ("", "1", False, False),
    ("__import__('os').system('echo hi')", "0", False, False),
    (r"\boxed{__import__(\"os\")}", "0", False, True),  # a box was there; its content is no number
    ("answer: __import__('os').system('echo hi')", "0", False, False),
]

CHOICE = [
    (r"\boxed{C}", "C", True, True),
    (r"Therefore $\boxed{\text{(C)}}$", "C", True, True),
    ("The answer is (C)", "(C)", True, True),
    ("The answer is (C).", "C", True, True),
    ("Answer: C", "C", True, True),
    ("**Answer:** D", "D", True, True),
    ("The correct answer is (B), not (C).", "B", True, True),
    ("(A) is tempting, but (C) fits", "C", True, True),
    ("C", "C", True, True),
    ("The answer is (B).", "C", False, True),
    (r"\boxed{a}", "A", True, True),  # a box is explicit, case aside
    ("the answer is a bit unclear", "A", False, False),  # a lone lowercase "a" is a word
    ("I have no idea", "C", False, False),
    (r"\boxed{42}", "C", False, False),
]

ORGANISM = [
    ("23+45=68;68+17=85;#85", "85", True, True),
    ("#80 wait #85", "85", True, True),
    ("23+45=68;#68", "85", False, True),
    ("no marker", "85", False, False),
]


@pytest.mark.parametrize(("grader", "response", "reference", "correct", "parsed"),
                         [("math", *c) for c in MATH] + [("choice", *c) for c in CHOICE]
                         + [("organism", *c) for c in ORGANISM])
def test_real_answer_formats(grader, response, reference, correct, parsed):
    assert grade(grader, [response], [reference]) == Grades(correct=[correct], parsed=[parsed])
    assert GRADERS.get(grader)(response, reference) == Grade(correct, parsed)


def test_registry_names_and_unknown_grader():
    assert set(GRADERS.names()) == {"organism", "math", "choice"}
    assert GRADERS.names()[0] == "organism"  # the default of score_responses
    with pytest.raises(UserError, match="unknown grader 'regex'; known: organism, math, choice"):
        grade("regex", ["#1"], ["1"])
    with pytest.raises(UserError, match="unknown grader"):
        grade("regex", [], [])


def test_bad_references_are_user_errors_but_bad_responses_never_raise():
    for grader, reference in [("organism", "seven"), ("choice", "42"), ("choice", "CD"), ("math", "$$")]:
        with pytest.raises(UserError, match="reference answer"):
            grade(grader, ["x"], [reference])
    weird = [None, 7, "\x00" * 10, "\\boxed{" * 50, "}" * 50 + "\\boxed{}", "$" * 99]
    for grader, reference in [("organism", "1"), ("choice", "A"), ("math", "1")]:
        out = grade(grader, weird, [reference] * len(weird))
        assert out.correct == [False] * len(weird)
    with pytest.raises(ValueError, match="2 responses but 1"):
        grade("math", ["1", "2"], ["1"])


def test_last_boxed_matches_braces():
    assert last_boxed(r"\boxed{1} and \boxed{\frac{1}{2}}.") == r"\frac{1}{2}"
    assert last_boxed(r"\boxed{\{1, 2\}}") == r"\{1, 2\}"
    assert last_boxed(r"\boxed{3} then \boxed{\frac{1}{") == "3"  # a truncated box is skipped
    assert last_boxed(r"\fbox{A}") == "A" and last_boxed("no box") is None


ATTACKS = [
    "__import__('os').system('touch {marker}')",
    "The answer is __import__('os').system('touch {marker}')",
    r"\boxed{__import__('os').system('touch {marker}')}",
    r"$__import__('pathlib').Path('{marker}').touch()$",
    "Final answer: (lambda: __import__('pathlib').Path('{marker}').touch())()",
    "answer: 2**2**2 + (1).__class__.__bases__[0].__subclasses__()",
    r"\boxed{\text{eval(open('{marker}','w'))}}",
    "answer = 1e5 + 3*(4-2)/7 ^ 2",
]


def test_model_text_is_never_evaluated(tmp_path, monkeypatch):
    """Every string that reaches sympy's parse_expr (Python eval) is a numeric literal, and nothing runs."""
    seen = []

    def spy(original):
        def parse_expr(s, *args, **kwargs):
            seen.append(s)
            return original(s, *args, **kwargs)
        return parse_expr

    monkeypatch.setattr(sympy_parser, "parse_expr", spy(sympy_parser.parse_expr))  # sympify imports it per call
    monkeypatch.setattr(math_verify.parser, "parse_expr", spy(math_verify.parser.parse_expr))
    monkeypatch.setattr(l2s, "parse_expr", spy(l2s.parse_expr))
    math_verify.parser.parse_latex_cached.cache_clear()
    marker = tmp_path / "pwned"
    responses = [a.replace("{marker}", str(marker)) for a in ATTACKS] + [r"\boxed{\frac{12}{34}}", "$1,234.5$"]
    for grader in ("math", "choice", "organism"):
        assert not any(grade(grader, responses, ["A" if grader == "choice" else "1"] * len(responses)).correct)
    assert not marker.exists()
    assert seen, "the spy saw nothing: the LaTeX numbers go through sympify, so the patch missed"
    assert all(isinstance(s, str) and s.replace(".", "").replace("E", "").isdigit() for s in seen), seen


@pytest.mark.parametrize("response", [
    r"\boxed{9^{9^{9^{9}}}}",  # verification tries to evaluate
    r"\boxed{(10^{100})!}",
    r"\boxed{2^{2^{40}} - 2^{2^{40}} + 1}",
    r"\boxed{" + "(" * 300 + "1" + ")" * 300 + "}",  # the ANTLR parse itself is slow
])
def test_pathological_answers_end_as_incorrect(response, monkeypatch):
    """They return (no hang, no exception) with the verdict incorrect; wall time is not asserted,
    the limit itself is tested below on a loop that would never end."""
    monkeypatch.setattr(graders, "TIME_LIMIT", 1.0)
    assert grade("math", [response], ["1"]).correct == [False]


def test_time_limit_stops_work_that_would_never_end():
    def forever() -> str:
        while True:
            pass

    assert graders._with_time_limit(forever, 0.2, "stopped") == "stopped"


def test_time_limit_restores_the_callers_alarm():
    def mine(signum, frame):
        raise AssertionError("the caller's alarm fired early")

    previous = signal.signal(signal.SIGALRM, mine)
    signal.setitimer(signal.ITIMER_REAL, 100.0)
    try:
        assert grade("math", [r"\boxed{2}"], ["2"]).correct == [True]
        assert signal.getsignal(signal.SIGALRM) is mine
        assert 90 < signal.getitimer(signal.ITIMER_REAL)[0] <= 100
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def test_math_grading_works_off_the_main_thread():
    """No SIGALRM there: grading runs without a time limit instead of raising."""
    out: list = []
    t = threading.Thread(target=lambda: out.append(grade("math", [r"\boxed{\frac{1}{2}}", "no", r"\boxed{3}"],
                                                         ["0.5", "1", "4"])))
    t.start()
    t.join(60)
    assert out == [Grades(correct=[True, False, False], parsed=[True, False, True])]


def _latex(x: int | Fraction) -> str:
    if isinstance(x, int):
        return str(x)
    sign = "-" if x < 0 else ""
    return rf"{sign}\frac{{{abs(x.numerator)}}}{{{x.denominator}}}"


numbers = st.one_of(st.integers(-10**12, 10**12),
                    st.fractions(min_value=-1000, max_value=1000, max_denominator=1000)
                    .filter(lambda f: f.denominator != 1))


@given(numbers)
@settings(max_examples=60, deadline=None)
def test_math_accepts_the_boxed_number_and_rejects_its_successor(n):
    assert grade("math", [rf"\boxed{{{_latex(n)}}}", rf"\boxed{{{_latex(n + 1)}}}"], [str(n)] * 2) == \
        Grades(correct=[True, False], parsed=[True, True])


@given(st.one_of(st.text(alphabet="#0123456789-+=; ax\n", max_size=30), st.text(max_size=30)),
       st.integers(-200, 200))
@settings(max_examples=200, deadline=None)
def test_organism_grader_agrees_with_the_verifier(response, answer):
    out = grade("organism", [response], [str(answer)])
    assert out.correct == [verify(response, answer)]
    assert out.parsed == [extract_answer(response) is not None]


def test_score_responses_names_its_grader():
    gens = pl.DataFrame({"problem_id": [0, 0, 1], "sample_idx": [0, 1, 0],
                         "response_text": [r"\boxed{C}", "Answer: B", "hmm"]})
    answers = pl.DataFrame({"problem_id": [0, 1], "answer": ["(C)", "A"]})
    out = score_responses(gens, answers, grader="choice")
    assert out.columns == ["problem_id", "sample_idx", "correct", "parsed"]
    assert out["correct"].to_list() == [True, False, False] and out["parsed"].to_list() == [True, True, False]
    with pytest.raises(UserError, match="known: organism, math, choice"):
        score_responses(gens, answers, grader="nope")
