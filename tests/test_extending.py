"""docs/extending.md, followed: a toy of each kind of extension is added by its documented steps and runs
through the public entry point that looks it up by name.

Each toy is registered into a scratch copy of its registry (or of FIGURES), so it is gone after its
test. The schema step is checked on a copy of the schema: validate_config refuses the toy's name
before the enum names it and accepts it after.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
import torch
import yaml
from conftest import save_tiny_model
from datasets import Dataset
from test_registries import schema_node
from tokenshift.analysis.scorecard import (
    CLAIMS,
    NOT_REPRODUCED,
    NOT_RUN,
    REPRODUCED,
    Inputs,
    Verdict,
    claim,
    scorecard,
    summary_row,
    to_markdown,
    value,
    verdict_of,
)
from tokenshift.analysis.statistics import TABLES, StatsParams, scan_dumps
from tokenshift.cli import build_parser
from tokenshift.crosssample import RULES, CrossSpec, cross_sample_batch
from tokenshift.data.generators import GENERATORS
from tokenshift.data.loader import load_problems
from tokenshift.errors import UserError
from tokenshift.evaluation.accuracy import score_responses
from tokenshift.evaluation.graders import GRADERS, UNPARSED, Grade
from tokenshift.figures import shift
from tokenshift.figures.catalog import FIGURES, FigureSpec
from tokenshift.figures.plotting import subplots
from tokenshift.figures.shift import render
from tokenshift.generation.sampler import SamplingParams, encode_prompt
from tokenshift.models.loading import load_model, load_tokenizer
from tokenshift.pipeline.config import SCHEMA_PATH, validate_config
from tokenshift.training.dapo import correctness_reward
from tokenshift.training.weighted import WeightedGRPOTrainer
from tokenshift.training.weighting import WEIGHTINGS, token_weights
from trl import GRPOConfig

from benchmarks.synthdump import write_synthetic_dump


@pytest.fixture
def scratch(monkeypatch):
    """``scratch(registry, ...)``: later registrations go to a copy of each, dropped after the test."""

    def copy_of(*registries):
        for registry in registries:
            monkeypatch.setattr(registry, "_items", dict(registry._items))

    return copy_of


def schema_step(tmp_path: Path, key: str, name: str, config: dict) -> None:
    """The schema step: ``config`` naming the toy fails validation until the enum at ``key`` lists ``name``."""
    with pytest.raises(UserError, match=rf"config key '[\w.]*': '{name}' is not one of"):
        validate_config(copy.deepcopy(config))
    schema = yaml.safe_load(SCHEMA_PATH.read_text())
    node = schema_node(key, schema)
    node["enum"] = [*node["enum"], name]
    extended = tmp_path / "schema.yaml"
    extended.write_text(yaml.safe_dump(schema, sort_keys=False, allow_unicode=True))
    validated = validate_config(copy.deepcopy(config), extended)
    assert name in str(validated)


# --- a weighting ---------------------------------------------------------------------------------------------


def test_a_toy_weighting_weights_the_trainers_loss(scratch, tmp_path):
    scratch(WEIGHTINGS)

    @WEIGHTINGS.register("toy_double")
    def toy_double(kl: torch.Tensor, mask: torch.Tensor, alpha: float, s: float) -> torch.Tensor:
        """w = 2 on response tokens, 1 on padding."""
        return torch.ones_like(kl) + mask

    kl, mask = torch.rand(2, 5, requires_grad=True), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]])
    w = token_weights("toy_double", kl, mask, alpha=0.0, s=0.0)  # the lookup the trainer and verl's loss use
    assert torch.equal(w, 1.0 + mask) and not w.requires_grad

    # TRL's trainer, given the name as train_dapo gives it a variant's: its loss is the plain loss with
    # doubled advantages.
    model_dir = save_tiny_model(tmp_path / "m", seed=0)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), max_steps=1, loss_type="dapo", num_generations=2,
                      per_device_train_batch_size=2, steps_per_generation=2, max_completion_length=4,
                      report_to="none", use_cpu=True, save_strategy="no", remove_unused_columns=False, bf16=False)
    trainer = WeightedGRPOTrainer(model=load_model(model_dir), reward_funcs=correctness_reward("organism"), args=args,
                                  train_dataset=Dataset.from_dict({"prompt": ["1+1="] * 4, "answer": ["2"] * 4}),
                                  processing_class=load_tokenizer(model_dir), weighting="toy_double")
    trainer.current_gradient_accumulation_steps = 1
    b, p, t, vocab = 2, 3, 4, len(trainer.processing_class)
    gen = torch.Generator().manual_seed(0)
    inputs = {"prompt_ids": torch.randint(0, vocab, (b, p), generator=gen),
              "prompt_mask": torch.ones(b, p, dtype=torch.long),
              "completion_ids": torch.randint(0, vocab, (b, t), generator=gen),
              "completion_mask": torch.ones(b, t, dtype=torch.long), "advantages": torch.tensor([1.0, -0.5]),
              "old_per_token_logps": -torch.rand(b, t, generator=gen) - 1.0,
              "num_items_in_batch": torch.tensor(float(b * t))}
    model = trainer.model.train()
    weighted = float(trainer._compute_loss(model, inputs).detach())
    doubled = {**inputs, "advantages": 2 * inputs["advantages"].unsqueeze(1).expand(b, t)}
    plain = float(super(WeightedGRPOTrainer, trainer)._compute_loss(model, doubled).detach())
    assert weighted == pytest.approx(plain, rel=1e-5) and weighted != 0

    config = {"name": "t", "train_variants": [{"name": "toy", "weighting": "toy_double", "alpha": {"end_alpha": 1}}]}
    schema_step(tmp_path, "train_variants[].weighting", "toy_double", config)


# --- a grader ------------------------------------------------------------------------------------------------


def test_a_toy_grader_scores_responses(scratch, tmp_path):
    scratch(GRADERS)

    @GRADERS.register("toy_exact")
    def toy_exact(response: str, answer: str) -> Grade:
        """The whole response, stripped, is the answer; an empty response has none."""
        if not response.strip():
            return UNPARSED
        return Grade(correct=response.strip() == answer, parsed=True)

    generations = pl.DataFrame({"problem_id": [0, 0, 1], "sample_idx": [0, 1, 0],
                                "response_text": [" 7 ", "8", ""]})
    answers = pl.DataFrame({"problem_id": [0, 1], "answer": ["7", "3"]})
    scores = score_responses(generations, answers, grader="toy_exact")  # what the score rule calls
    assert scores["correct"].to_list() == [True, False, False]
    assert scores["parsed"].to_list() == [True, True, False]

    # the RL reward grades with the dataset's grader
    assert correctness_reward("toy_exact")(completions=["7", "x"], answer=["7", "7"]) == [1.0, 0.0]

    config = {"name": "t", "datasets": [{"name": "d", "generator": "organism", "split": "eval",
                                         "grader": "toy_exact"}]}
    schema_step(tmp_path, "$defs.dataset.grader", "toy_exact", config)


# --- a dataset generator -------------------------------------------------------------------------------------


def test_a_toy_generator_makes_a_dataset(scratch, tmp_path):
    scratch(GENERATORS)

    @GENERATORS.register("toy_count")
    def toy_count(split: str, n: int, seed: int, start: int = 1) -> list[dict]:
        """"What is k + 0?" for n numbers from ``start`` (eval) or from start + 1000 (train): disjoint splits."""
        first = start + (1000 if split == "train" else 0) + seed
        return [{"problem_id": i, "problem": f"What is {first + i} + 0?", "answer": str(first + i),
                 "solution": f"{first + i} + 0 = {first + i}. The answer is {first + i}."} for i in range(n)]

    entry = {"name": "toy", "generator": "toy_count", "split": "eval", "n": 3, "options": {"start": 5}}
    problems = load_problems(entry, seed=0)  # what prepare_dataset calls
    assert problems["answer"].to_list() == ["5", "6", "7"] and problems.columns[-1] == "solution"
    train = load_problems({**entry, "split": "train"}, seed=0)
    assert not set(train["problem"]) & set(problems["problem"])
    with pytest.raises(UserError, match="unknown option 'colour' .*known: start"):
        load_problems({**entry, "options": {"colour": 1}}, seed=0)

    config = {"name": "t", "datasets": [{"name": "d", "generator": "toy_count", "split": "eval", "n": 3}]}
    schema_step(tmp_path, "$defs.dataset.generator", "toy_count", config)


# --- a switching rule (with its own divergence) ----------------------------------------------------------------


def total_variation(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """A toy divergence: half the L1 distance per row, in [0, 1]."""
    return 0.5 * (p - q).abs().sum(dim=-1)


@dataclass(frozen=True)
class FirstPositions:
    """Toy rule: switch at the first ``eps`` positions of each response; the score is the total variation."""

    eps: float
    measure = staticmethod(total_variation)  # the score random-baseline runs record under this rule

    def __call__(self, prim, inter, problem_ids, sample_idx, positions):
        return positions.to(prim.device) < self.eps, type(self).measure(prim, inter)


def test_a_toy_switching_rule_drives_both_engines(scratch, tiny_pair, tmp_path):
    scratch(RULES)
    RULES.register("toy_first")(FirstPositions)

    tok = load_tokenizer(tiny_pair[0])
    primary, intervention = (load_model(d, dtype="float64") for d in tiny_pair)
    prompts = [encode_prompt(tok, p) for p in ("12+34=", "5-6+7=", "9=")]
    pid, sid = torch.arange(3), torch.zeros(3, dtype=torch.long)

    def run(engine: str, eps: float, budget: int = 100):
        spec = CrossSpec(eps, (0, budget), SamplingParams(seed=3, temperature=1.0, top_p=1.0, max_new_tokens=12),
                         engine=engine, rule="toy_first")
        results, _ = cross_sample_batch(primary, intervention, len(tok), prompts, pid, sid, spec,
                                        tok.eos_token_id, tok.pad_token_id)
        return results

    def decisions(results):  # scores aside: a chunked pass and one-token passes round differently
        return [(r.response_ids, r.finish_reason, [(s.position, s.primary_token, s.intervention_token)
                                                   for s in r.switches]) for r in results]

    fast, naive = run("fast", 3), run("naive", 3)
    assert decisions(fast) == decisions(naive)  # a pure rule decides alike in both engines
    for a, b in zip(fast, naive):
        assert [s.score for s in a.switches] == pytest.approx([s.score for s in b.switches], rel=1e-9)
    assert any(len(r.response_ids) > 3 for r in fast)
    for r in fast:
        assert [s.position for s in r.switches] == list(range(min(3, len(r.response_ids))))
        assert all(0 < s.score <= 1 for s in r.switches)
    assert all(not r.switches for r in run("fast", 0))
    random = CrossSpec(0.0, (0, 4), SamplingParams(0, 1.0, 1.0, 8), rule="toy_first", mode="random", random_rate=0.5)
    assert random.switch_rule().measure is total_variation

    args = build_parser().parse_args(["crosssample", "--primary", "p", "--intervention", "i", "--prompts", "x",
                                      "--eps", "3", "--budget", "4", "--rule", "toy_first", "--out", "o"])
    assert args.rule == "toy_first"  # the CLI's choices are the registry's names
    schema_step(tmp_path, "crosssample.rule", "toy_first", {"name": "t", "crosssample": {"rule": "toy_first"}})


# --- a scorecard claim ---------------------------------------------------------------------------------------


def test_a_toy_claim_is_judged_in_the_scorecard(scratch):
    scratch(CLAIMS)
    toy_id = f"C{len(CLAIMS.names()) + 1}"

    @claim(toy_id, "Mean JS stays small", "§0, Fig. 0", "the mean divergence is small",
           "the DAPO pair's mean JS lies below {max_js:g}.", "shift_summary (mean_js)", (), max_js=0.5)
    def _toy(x: Inputs, pair: None, n) -> Verdict:
        mean = value(summary_row(x, x.dapo), "mean_js")
        return Verdict(verdict_of(mean < n["max_js"], mean >= n["max_js"]), f"needs below {n['max_js']:g}",
                       f"mean JS {mean:.2f}")

    def judged(**tables) -> dict:
        table = scorecard(Inputs(dataset="eval", dapo="rl", **tables))
        assert table["id"].to_list()[-1] == toy_id  # claims are ordered by their number
        return table.row(table.height - 1, named=True)

    def summary(mean_js: float) -> pl.DataFrame:
        return pl.DataFrame({"pair": ["rl"], "dataset": ["eval"], "mean_js": [mean_js]})

    row = judged(summary=summary(0.1))
    assert (row["verdict"], row["this_run"]) == (REPRODUCED, "mean JS 0.10")
    assert "below 0.5" in row["rule"] and "Precondition" not in row["rule"]  # roles (): no pair precondition
    assert judged(summary=summary(0.9))["verdict"] == NOT_REPRODUCED
    assert judged()["verdict"] == NOT_RUN  # no shift_summary table in the run
    assert f"| {toy_id} |" in to_markdown(scorecard(Inputs(dataset="eval", dapo="rl", summary=summary(0.1))))


# --- a figure ------------------------------------------------------------------------------------------------


def test_a_toy_figure_renders_from_a_stats_table(monkeypatch, tmp_path):
    def toy_median_js(t, pairs, p):
        """Median JS of each pair: one bar per pair."""
        df = t["js_percentiles"].filter(pl.col("pair").is_in(pairs) & (pl.col("column") == "js")
                                        & (pl.col("percentile") == 50))
        fig, ax = subplots(figsize=(3, 2.5))
        ax.bar(df["pair"].to_list(), df["js"].to_list())
        ax.set(ylabel="median JS")
        return fig

    monkeypatch.setattr(shift, "toy_median_js", toy_median_js, raising=False)  # as if written in shift.py
    monkeypatch.setitem(FIGURES, "fig99_toy_median", FigureSpec(("js_percentiles",), "toy_median_js", compare=True))
    dump = tmp_path / "rl.parquet"
    write_synthetic_dump(dump, 400, seed=1, seqs_per_group=20)
    params = StatsParams(top_p=0.7)
    tables = {"js_percentiles": TABLES["js_percentiles"](scan_dumps([("rl", "eval", dump)]), params)}
    pdf, png = tmp_path / "toy.pdf", tmp_path / "toy.png"
    render("fig99_toy_median", tables, ["rl"], ["rl"], params, pdf, png, models={"rl": "base → rl"})
    assert pdf.read_bytes()[:4] == b"%PDF" and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
