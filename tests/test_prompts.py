"""Prompt rendering: literal templates (LaTeX braces survive) and chat templates of a local tokenizer."""

import polars as pl
import pytest
from tokenshift.data.prompts import QWEN25_MATH_COT, QWEN_BOXED_TEMPLATE, render_frame, render_prompt
from tokenshift.data.vocab import build_char_tokenizer
from tokenshift.errors import UserError

CHAT = ("{% for m in messages %}<|{{ m['role'] }}|>{{ m['content'] }}<|end|>{% endfor %}"
        "{% if add_generation_prompt %}<|assistant|>{% endif %}")
LATEX = "Let $f(x)=\\frac{1}{x}$ and $S=\\{1,2\\}$. Find {0} {x} {problem}."


@pytest.fixture
def chat_tok():
    tok = build_char_tokenizer()
    tok.chat_template = CHAT
    return tok


def _user_error(*args, fragment):
    with pytest.raises(UserError) as info:
        render_prompt(*args)
    assert "\n" not in str(info.value) and fragment in str(info.value), str(info.value)


def test_plain_template_is_the_whole_prompt():
    assert render_prompt("2+3=", {}) == "2+3="
    assert render_prompt("2+3=", {"template": "Q: {problem}\nA:"}) == "Q: 2+3=\nA:"


def test_braces_in_problems_survive():
    assert render_prompt(LATEX, {"template": "{problem}"}) == LATEX
    assert render_prompt(LATEX, {"template": QWEN_BOXED_TEMPLATE}) == (
        LATEX + "\nPlease reason step by step, and put your final answer within \\boxed{}.")


def test_chat_template_with_and_without_system(chat_tok):
    spec = {"template": "Solve: {problem}", "chat": True}
    assert render_prompt(LATEX, spec, chat_tok) == f"<|user|>Solve: {LATEX}<|end|><|assistant|>"
    assert render_prompt("1+1=", {**spec, "system": "Be brief."}, chat_tok) == \
        "<|system|>Be brief.<|end|><|user|>Solve: 1+1=<|end|><|assistant|>"


def test_qwen_math_cot_puts_the_instruction_in_the_system_turn(chat_tok):
    out = render_prompt("1+1?", QWEN25_MATH_COT, chat_tok)
    assert out == ("<|system|>Please reason step by step, and put your final answer within \\boxed{}.<|end|>"
                   "<|user|>1+1?<|end|><|assistant|>")


def test_chat_needs_a_tokenizer_with_a_chat_template():
    _user_error("x", {"chat": True}, build_char_tokenizer(), fragment="no chat template")
    _user_error("x", {"chat": True}, None, fragment="needs the model's tokenizer")


def test_chat_template_that_refuses_a_system_turn_is_a_user_error(chat_tok):
    chat_tok.chat_template = ("{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not "
                              "supported') }}{% endif %}" + CHAT)
    _user_error("x", {"chat": True, "system": "s"}, chat_tok, fragment="System role not supported")


@pytest.mark.parametrize("template", ["no placeholder", "{problem} and {problem}", "{ problem }"])
def test_templates_need_the_placeholder_once(template):
    _user_error("x", {"template": template}, fragment="{problem} exactly once")


def test_render_frame_adds_the_prompt_column(chat_tok):
    df = pl.DataFrame({"problem_id": [4, 2], "problem": ["a{b}", "c"], "answer": ["1", "2"]},
                      schema={"problem_id": pl.Int64, "problem": pl.String, "answer": pl.String})
    out = render_frame(df, {"template": "[{problem}]", "chat": True}, chat_tok)
    assert out.columns == ["problem_id", "problem", "prompt", "answer"]
    assert out["prompt"].to_list() == ["<|user|>[a{b}]<|end|><|assistant|>", "<|user|>[c]<|end|><|assistant|>"]
    assert out.select("problem_id", "problem", "answer").equals(df)
    with pytest.raises(UserError, match="exactly once"):
        render_frame(df.head(0), {"template": "nothing"})


def test_render_frame_keeps_solutions_after_the_answer():
    df = pl.DataFrame({"problem_id": [0], "problem": ["p"], "answer": ["1"], "solution": ["s"]})
    out = render_frame(df, {})
    assert out.columns == ["problem_id", "problem", "prompt", "answer", "solution"]
    assert out.row(0) == (0, "p", "p", "1", "s")
