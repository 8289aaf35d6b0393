"""Answer graders by name: is a response's final answer right, and could one be found at all.

The model organism answers after ``#``; real LLMs box LaTeX or name a choice letter, so each
task names its grader (``organism``, ``math``, ``choice``). A grader maps one (response,
reference) pair to a :class:`Grade`. Model text is never trusted: a response that cannot be
read, breaks a parser or runs out of time is graded incorrect and unparsed, and counted as
such, never raised. A reference that cannot be read is the dataset's fault and raises a
:class:`UserError`, since silently grading every sample of it wrong would hide the mistake.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from typing import Any, NamedTuple, TypeVar

from tokenshift.data.organism import extract_answer, verify
from tokenshift.errors import UserError
from tokenshift.registry import Registry


class Grade(NamedTuple):
    """One response's verdict: ``parsed`` says a final answer was found, ``correct`` that it is right."""

    correct: bool
    parsed: bool


UNPARSED = Grade(correct=False, parsed=False)

GRADERS: Registry[Callable[[str, str], Grade]] = Registry("grader")


@dataclass(frozen=True)
class Grades:
    """Per-response verdicts, aligned with the responses; unparsed answers are incorrect."""

    correct: list[bool]
    parsed: list[bool]


def grade(grader: str, responses: Sequence[str], answers: Sequence[str]) -> Grades:
    """Grade each response against its reference with the grader registered as ``grader``.

    A response never raises: any error while grading it makes it unparsed and incorrect, so
    one odd generation cannot stop a run. Bad references and unknown graders raise UserError.
    """
    fn = GRADERS.get(grader)
    if len(responses) != len(answers):
        raise ValueError(f"{len(responses)} responses but {len(answers)} reference answers")
    out = []
    for response, answer in zip(responses, answers):
        try:
            out.append(fn(response, answer))
        except UserError:
            raise
        except Exception:  # model text broke something: count it, don't crash the run
            out.append(UNPARSED)
    return Grades(correct=[g.correct for g in out], parsed=[g.parsed for g in out])


# --- organism ----------------------------------------------------------------------------


@GRADERS.register("organism")
def grade_organism(response: str, answer: str) -> Grade:
    """The organism's verifier: the integer after the last ``#``."""
    try:
        int(answer)
    except (TypeError, ValueError):
        raise UserError(f"organism reference answer {answer!r} is not an integer") from None
    if extract_answer(response) is None:
        return UNPARSED
    return Grade(correct=verify(response, answer), parsed=True)


# --- shared extraction -------------------------------------------------------------------

_BOXED = re.compile(r"\\(?:boxed|fbox)\s*\{")


def last_boxed(text: str) -> str | None:
    """Content of the last complete ``\\boxed{...}`` (braces matched, ``\\{`` skipped), or None.

    Brace matching, not a regex: answers like ``\\frac{1}{2}`` nest braces. The last one,
    because a model that boxes an intermediate result and then its answer is graded on the
    answer; an unclosed box (a truncated response) is skipped.
    """
    for m in reversed(list(_BOXED.finditer(text))):
        depth, i = 1, m.end()
        while i < len(text):
            c = text[i]
            if c == "\\":
                i += 2
                continue
            depth += (c == "{") - (c == "}")
            if depth == 0:
                return text[m.end() : i]
            i += 1
    return None


# --- math --------------------------------------------------------------------------------

TIME_LIMIT = 5.0
"""Seconds allowed to grade one math answer (extraction and comparison together)."""

# A plain number: optional sign, thousands separators, decimals, a simple fraction.
_NUMBER = r"(?<![\w.])-?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?(?:/\d+(?:\.\d+)?)?(?!\w)"
_NUMBER_RE = re.compile(_NUMBER)
_ANSWER_NUMBER_RE = re.compile(r"(?i:\banswer\b)[^\n]{0,50}?(" + _NUMBER + ")")
_MATH_DELIMITER = re.compile(r"(?<!\\)\$|\\\(|\\\[|\\boxed|\\fbox")
_LATEX_MARK = re.compile(r"(?<!\\)\$|\\[()[\]]")


T = TypeVar("T")


class _OutOfTime(BaseException):
    """Raised by the alarm; a BaseException so math-verify's ``except Exception`` can't swallow it
    (and distinct from its own TimeoutException, which its ``parse`` turns into "no answer")."""


def _with_time_limit(fn: Callable[[], T], seconds: float, default: T) -> T:
    """``fn()``, or ``default`` if it runs past ``seconds``.

    SIGALRM only reaches the main thread, and ``signal.signal`` raises anywhere else; off the
    main thread (or without ``setitimer``) grading therefore runs WITHOUT a time limit rather
    than failing. A timer already armed by the caller (e.g. pytest-timeout) is put back with
    its remaining time. The alarm only interrupts Python code, so one long C call would finish
    first; the huge powers and factorials in the tests stay in sympy's Python code and are cut off.
    """
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return fn()

    def on_alarm(signum: int, frame: Any) -> None:
        raise _OutOfTime

    start = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    previous_delay, previous_interval = signal.setitimer(signal.ITIMER_REAL, seconds)  # one shot
    try:
        try:
            return fn()
        finally:
            # Disarm first: a late alarm raises here, inside the handler below, never after it.
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _OutOfTime:
        return default
    finally:
        # None: the caller's handler was installed outside Python and cannot be put back
        signal.signal(signal.SIGALRM, signal.SIG_DFL if previous_handler is None else previous_handler)
        if previous_delay > 0:
            left = previous_delay - (time.monotonic() - start)
            signal.setitimer(signal.ITIMER_REAL, max(left, 1e-6), previous_interval)


@lru_cache(maxsize=1)
def _math_verify() -> Any:
    """math-verify, imported and warmed up on first use, outside any time limit.

    It pulls in sympy and ANTLR (~0.6 s) and sympy imports more lazily on first use; an alarm
    landing inside an import would count the import against one answer, or half-import a module.
    """
    import math_verify
    import math_verify.grader
    import math_verify.parser

    # We pass timeout None to math-verify and enforce one limit per answer ourselves
    # (_with_time_limit); silence its once-per-process "timeout is disabled" warnings.
    math_verify.parser.TIMEOUT_WARNING_SHOWN = True
    math_verify.grader.TIMEOUT_WARNING_SHOWN = True
    config = [math_verify.LatexExtractionConfig()]
    math_verify.verify(math_verify.parse("$x+1$", config, parsing_timeout=None),
                       math_verify.parse(r"$\frac{1}{2}$", config, parsing_timeout=None), timeout_seconds=None)
    return math_verify


def _latex(text: str, anchored: bool = False) -> list:
    """math-verify's LaTeX extraction only (never its ExprExtractionConfig, see ``grade_math``).

    ``anchored``: only LaTeX after "answer"/"final answer is"; boxes are handled before this.
    """
    mv = _math_verify()
    config = mv.LatexExtractionConfig(try_extract_without_anchor=not anchored, boxed_match_priority=-1)
    return mv.parse(text, extraction_config=[config], fallback_mode="first_match", parsing_timeout=None)


def _boxed(content: str) -> list:
    """Parse one box's content (its normalisation strips ``\\text``, units, ``\\dfrac``...)."""
    mv = _math_verify()
    config = mv.LatexExtractionConfig(boxed_match_priority=0)
    return mv.parse("\\boxed{" + content + "}", extraction_config=[config], fallback_mode="first_match",
                    parsing_timeout=None)


def _number(text: str) -> Any:
    """A plain number as sympy, built directly from digits (never through sympify/eval)."""
    import sympy

    text = text.replace(",", "")
    if "/" in text:
        p, q = text.split("/")
        return sympy.Rational(Fraction(p) / Fraction(q))
    return sympy.Float(text) if "." in text else sympy.Integer(int(text))


@lru_cache(maxsize=4096)
def _reference(answer: str) -> tuple:
    """The parsed reference (cached: every sample of a problem shares it); bare text is read as math."""
    text = answer.strip()
    parsed = _with_time_limit(lambda: _latex(text if _MATH_DELIMITER.search(text) else f"${text}$"),
                              TIME_LIMIT, None)
    if not parsed:
        why = "took too long to parse" if parsed is None else "has no expression math-verify can read"
        raise UserError(f"math reference answer {answer!r} {why}")
    return tuple(parsed)


def _response(text: str) -> list:
    """The model's final answer, most explicit form first:

    1. the last ``\\boxed{}``; 2. LaTeX after "answer"; 3. a number after "answer"
    ("The answer is 7"); 4. whichever comes last of the last LaTeX span and the last number.
    """
    boxed = last_boxed(text)
    if boxed is not None:
        return _boxed(boxed)
    if found := _latex(text, anchored=True):
        return found
    if said := list(_ANSWER_NUMBER_RE.finditer(text)):
        return [_number(said[-1].group(1))]
    numbers = list(_NUMBER_RE.finditer(text))
    last_latex = max((m.start() for m in _LATEX_MARK.finditer(text)), default=-1)
    if last_latex >= 0 and (not numbers or last_latex > numbers[-1].start()):
        if found := _latex(text):
            return found
    return [_number(numbers[-1].group())] if numbers else []


@GRADERS.register("math")
def grade_math(response: str, answer: str) -> Grade:
    """Math answers with math-verify: LaTeX, boxes, fractions vs decimals, equivalent expressions.

    Safety: math-verify's ExprExtractionConfig hands regex-matched model text (digits and
    ``+-*/^()``) to ``sympy.parse_expr``, which runs Python ``eval``; we never use it, and
    read plain numbers ourselves (``_number``). The LaTeX path parses with an ANTLR grammar
    into sympy objects; the only strings it passes to ``sympify``/``eval`` are the lexer's
    NUMBER tokens (digits, ``.``, ``,``, an E exponent) via ``sympy.Number(text)``, which can
    only name a numeric literal. tests/test_graders.py checks every string that reaches
    ``parse_expr`` while grading adversarial text is such a literal.

    Time: one limit (TIME_LIMIT) per answer for extraction and comparison together, by
    SIGALRM in the main thread; elsewhere no limit (see ``_with_time_limit``).
    """
    _math_verify()  # import before any alarm is armed
    reference = _reference(answer)  # a bad reference raises UserError instead of grading all wrong

    def run() -> Grade:
        try:
            found = _response(response)
            if not found:
                return UNPARSED
            ok = _math_verify().verify(list(reference), found, timeout_seconds=None, raise_on_error=False)
            return Grade(correct=bool(ok), parsed=True)
        except Exception:  # whatever model text does to the parsers, it is only an unparsed answer
            return UNPARSED

    return _with_time_limit(run, TIME_LIMIT, UNPARSED)


# --- multiple choice ---------------------------------------------------------------------

_LETTER_REF = re.compile(r"^\(?\s*([A-Za-z])\s*\)?\.?$")
_TEXT_WRAPPER = re.compile(r"\\(?:text|textbf|mathrm|mathbf|mbox)\s*\{([^{}]*)\}")
_BOX_LETTER = re.compile(r"^[\s$*]*\(?\s*([A-Za-z])\s*\)?(?:[\s.:)$*]|$)")
# Upper case only outside a box: "the answer is a bit long" must not read as choice A.
_SAID_LETTER = re.compile(
    r"(?i:\banswer\b)(?:\s+(?:is|would\s+be|will\s+be))?\s*[:：]?\s*(?:\*\*)?\s*"
    r"(?:(?i:option|choice)\s*)?\(?([A-Z])\)?(?:\*\*)?(?![\w])"
)
_OPTION_LETTER = re.compile(r"\(([A-Z])\)")
_ONLY_LETTER = re.compile(r"^\s*\(?([A-Z])\)?[.)]?\s*$")


def extract_choice(response: str) -> str | None:
    """The chosen letter: last ``\\boxed{}``, else the last "answer is (C)"/"Answer: C",
    else the last "(C)", else a response that is a lone letter; None if there is none."""
    boxed = last_boxed(response)
    if boxed is not None:
        m = _BOX_LETTER.match(_TEXT_WRAPPER.sub(r"\1", boxed))
        return m.group(1).upper() if m else None
    for pattern in (_SAID_LETTER, _OPTION_LETTER):
        if found := pattern.findall(response):
            return found[-1]
    m = _ONLY_LETTER.match(response)
    return m.group(1) if m else None


@GRADERS.register("choice")
def grade_choice(response: str, answer: str) -> Grade:
    """Multiple choice: the chosen letter equals the reference letter ("C" or "(C)")."""
    ref = _LETTER_REF.match(answer.strip())
    if ref is None:
        raise UserError(f"choice reference answer {answer!r} is not a letter A-Z")
    got = extract_choice(response)
    if got is None:
        return UNPARSED
    return Grade(correct=got == ref.group(1).upper(), parsed=True)
