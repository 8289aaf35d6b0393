"""``tokenshift crosssample``: output columns, and bad input rejected before any model work."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
from tokenshift.cli import main
from tokenshift.crosssample import CrossConfig, check_budgets
from tokenshift.data.datasets import problems_frame
from tokenshift.data.organism import make_problems
from tokenshift.data.vocab import build_char_tokenizer
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet


@pytest.fixture(scope="module")
def prompts(tmp_path_factory):
    path = tmp_path_factory.mktemp("prompts") / "eval.parquet"
    write_parquet(problems_frame(make_problems(4, seed=1, min_steps=1, max_steps=2)), path)
    return path


def cli(tiny_pair, prompts, out, *extra):
    base, tuned = tiny_pair
    return main(["crosssample", "--primary", str(base), "--intervention", str(tuned), "--prompts", str(prompts),
                 "--max-new-tokens", "12", "--samples", "2", "--out", str(out), *extra])


def test_cli_writes_responses(tiny_pair, prompts, tmp_path):
    out = tmp_path / "x.parquet"
    assert cli(tiny_pair, prompts, out, "--eps", "0.012", "--budget", "3", "--limit", "3") == 0
    df = pl.read_parquet(out)
    assert {"problem_id", "sample_idx", "response_ids", "n_switches", "n_effective"} <= set(df.columns)
    assert df.height == 6 and df["n_switches"].max() <= 3
    assert (df["n_effective"] <= df["n_switches"]).all()
    naive = tmp_path / "n.parquet"
    assert cli(tiny_pair, prompts, naive, "--eps", "0.012", "--budget", "3", "--limit", "3", "--engine", "naive") == 0
    assert pl.read_parquet(naive)["n_switches"].to_list() == df["n_switches"].to_list()


def test_cli_random_baseline_matches_rate(tiny_pair, prompts, tmp_path):
    out = tmp_path / "r.parquet"
    assert cli(tiny_pair, prompts, out, "--eps", "0.012", "--budget", "1000", "--random") == 0
    df = pl.read_parquet(out)
    assert df["n_switches"].sum() > 0


@pytest.mark.parametrize("args,message", [
    (["--eps", "-0.1", "--budget", "2"], "eps must be"),
    (["--eps", "0.1", "--budget", "-1"], "budget must be"),
    (["--eps", "nan", "--budget", "2"], "eps must be"),
])
def test_cli_bad_numbers(tiny_pair, prompts, tmp_path, capsys, args, message):
    assert cli(tiny_pair, prompts, tmp_path / "o.parquet", *args) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "o.parquet").exists()


def test_cli_differing_tokenizers(tiny_pair, prompts, tmp_path, capsys):
    base, tuned = tiny_pair
    other = shutil.copytree(tuned, tmp_path / "other")
    build_char_tokenizer(alphabet="0123456789+-=;#x").save_pretrained(str(other))
    code = main(["crosssample", "--primary", str(base), "--intervention", str(other), "--prompts", str(prompts),
                 "--eps", "0.1", "--budget", "2", "--out", str(tmp_path / "o.parquet")])
    err = capsys.readouterr().err
    assert code == 2 and "tokenizers differ" in err and str(other) in err


def test_bad_sweep_config():
    with pytest.raises(UserError, match="strictly increasing"):
        check_budgets([0, 4, 2])
    with pytest.raises(UserError, match="strictly increasing"):
        CrossConfig(0.1, (0, 2, 2))
    with pytest.raises(UserError, match="eps must be"):
        CrossConfig(-1.0, (0, 2))
    with pytest.raises(UserError, match="budget must be"):
        CrossConfig(0.1, (-1, 2))
    with pytest.raises(UserError, match="noise"):
        CrossConfig(0.1, (0, 2), noise="common")
