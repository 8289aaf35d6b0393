"""Problem text -> the exact prompt text a model is given.

A prompt spec is ``{"template": ..., "chat": bool, "system": str | None}``. The template
wraps the problem (its one ``{problem}`` is replaced literally: problems hold LaTeX braces,
which ``str.format`` would misread). Without chat the filled template is the whole prompt;
with chat it is the user message, rendered by the model's own chat template, so the model
sees the turn markers it was tuned on and every rule renders the same text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl
from jinja2 import TemplateError

from tokenshift.errors import UserError

PLACEHOLDER = "{problem}"

# Qwen2.5-Math's evaluation (github.com/QwenLM/Qwen2.5-Math, evaluation/utils.py, PROMPT_TEMPLATES):
# "qwen25-math-cot" puts this instruction in the system message with the bare problem as the user
# message (as the Qwen2.5-Math model cards do); "qwen-boxed" (system "You are a helpful assistant.")
# and "mathstral" append it to the problem after a newline instead -- the user-message form most
# RLVR papers on Qwen2.5-Math use.
QWEN_MATH_INSTRUCTION = "Please reason step by step, and put your final answer within \\boxed{}."
QWEN_BOXED_TEMPLATE = PLACEHOLDER + "\n" + QWEN_MATH_INSTRUCTION
QWEN25_MATH_COT = {"template": PLACEHOLDER, "chat": True, "system": QWEN_MATH_INSTRUCTION}


def _template(prompt: dict) -> str:
    """The spec's template, checked to hold the placeholder once (else the problem would be lost or doubled)."""
    template = prompt.get("template") or PLACEHOLDER
    if template.count(PLACEHOLDER) != 1:
        raise UserError(f"prompt template {template!r} must contain {PLACEHOLDER} exactly once (key template)")
    return template


def _check_chat(prompt: dict, tokenizer: Any) -> None:
    """A chat prompt needs a tokenizer that carries a chat template; say so before any rendering."""
    if not prompt.get("chat"):
        return
    if tokenizer is None:
        raise UserError("prompt chat: true needs the model's tokenizer to render its chat template")
    if not getattr(tokenizer, "chat_template", None):
        name = getattr(tokenizer, "name_or_path", "") or type(tokenizer).__name__
        raise UserError(f"prompt chat: true but tokenizer {name} has no chat template "
                        f"(a base model: set chat: false and put any instruction in template)")


def _render(problem: str, template: str, prompt: dict, tokenizer: Any) -> str:
    """Fill a checked template; with chat, wrap it as the user turn (after an optional system turn)."""
    text = template.replace(PLACEHOLDER, problem)
    if not prompt.get("chat"):
        return text
    system = prompt.get("system")
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": text}]
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    except TemplateError as exc:  # e.g. templates that refuse a system turn
        raise UserError(f"prompt: the tokenizer's chat template refused the messages: {exc}".splitlines()[0]) from None


def render_prompt(problem: str, prompt: dict, tokenizer: Any = None) -> str:
    """The prompt text of one problem under the spec (``tokenizer`` only needed with chat)."""
    template = _template(prompt)
    _check_chat(prompt, tokenizer)
    return _render(problem, template, prompt, tokenizer)


def render_frame(df: pl.DataFrame, prompt: dict, tokenizer: Any = None) -> pl.DataFrame:
    """The prepared dataset (problem_id, problem, prompt, answer, then any other column such as
    solution) of a problem table.

    The spec is checked once up front, so a bad spec fails even on an empty table.
    """
    template = _template(prompt)
    _check_chat(prompt, tokenizer)
    texts = pl.Series("prompt", [_render(p, template, prompt, tokenizer) for p in df["problem"]], dtype=pl.String)
    first = ["problem_id", "problem", "answer"]
    return df.select(*first[:2], texts, first[2], pl.exclude(first))


def _encodes(tokenizer: Any, text: str) -> bool:
    try:
        tokenizer.encode(text, add_special_tokens=False)
    except Exception:  # tokenizers raises a bare Exception ("WordLevel error: Missing [UNK] token ...")
        return False
    return True


def check_encodable(prompts: Sequence[str], tokenizer: Any, dataset: str) -> None:
    """Every prompt must encode under a tokenizer without an unknown token (the organism's characters):
    one that does not would fail at generation, after this dataset was prepared. One line names the
    dataset, the first prompt that does not encode and the characters that do not; a tokenizer with an
    unknown token (or none given) encodes anything."""
    if tokenizer is None or getattr(tokenizer, "unk_token", None) is not None:
        return
    for i, text in enumerate(prompts):
        if _encodes(tokenizer, text):
            continue
        bad = [ch for ch in dict.fromkeys(text) if not _encodes(tokenizer, ch)]
        shown = ", ".join(repr(ch) for ch in bad[:10]) + (f" and {len(bad) - 10} more" if len(bad) > 10 else "")
        raise UserError(f"dataset {dataset!r}: prompt {i} holds characters that the tokenizer cannot encode "
                        f"(it has no unknown token): {shown or 'its character sequence'}; write the problems "
                        f"and the prompt template in the tokenizer's characters")
