"""``tokenshift crosssample``: output columns, and bad input rejected before any model work."""

from __future__ import annotations

import math
import shutil

import polars as pl
import pyarrow.parquet as pq
import pytest
from tokenshift.cli import main
from tokenshift.crosssample import CrossSpec
from tokenshift.data.datasets import problems_frame
from tokenshift.data.organism import make_problems
from tokenshift.data.vocab import build_char_tokenizer
from tokenshift.errors import UserError
from tokenshift.files.parquet import write_parquet
from tokenshift.generation.sampler import SamplingParams


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


def realised_rate(path) -> tuple[float, float, int]:
    """(requested rate from the metadata, switches per token, tokens) of a random-baseline output."""
    requested = float(pq.read_schema(path).metadata[b"random_rate"])
    df = pl.read_parquet(path)
    tokens = int(df["length"].sum())
    return requested, int(df["n_switches"].sum()) / tokens, tokens


@pytest.mark.parametrize("rate", [None, "0.2"])
def test_cli_random_baseline_matches_rate(tiny_pair, prompts, tmp_path, rate):
    """Each position switches with probability = the rate, independently (keyed), and the budget
    (1000) never binds, so the switch count is binomial(tokens, rate): within 4 sigma."""
    out = tmp_path / "r.parquet"
    extra = ["--rate", rate] if rate else []
    assert cli(tiny_pair, prompts, out, "--eps", "0.1", "--budget", "1000", "--random", "--samples", "8",
               "--max-new-tokens", "24", *extra) == 0
    requested, realised, tokens = realised_rate(out)
    assert 0.05 < requested < 0.95 and (rate is None or requested == float(rate))
    assert abs(realised - requested) <= 4 * math.sqrt(requested * (1 - requested) / tokens)


@pytest.mark.parametrize("args,message", [
    (["--eps", "-0.1", "--budget", "2"], "eps must be"),
    (["--eps", "0.1", "--budget", "-1"], "budget must be"),
    (["--eps", "nan", "--budget", "2"], "eps must be"),
    (["--eps", "0.1", "--budget", "2", "--top-p", "0"], "top_p"),
    (["--eps", "0.1", "--budget", "2", "--rate", "0.1"], "--rate only applies with --random"),
    (["--eps", "0.1", "--budget", "2", "--random", "--rate", "2"], "random_rate must be in"),
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


PARAMS = SamplingParams(0, 1.0, 0.9, 16)


@pytest.mark.parametrize("kwargs,message", [
    ({"budgets": (0, 2, 2)}, "strictly increasing"),
    ({"budgets": (1, 2)}, "must start with 0"),
    ({"budgets": ()}, "empty"),
    ({"budgets": (0, -1)}, "budget must be"),
    ({"budgets": (0, 2.5)}, "budget must be"),
    ({"eps": -1.0}, "eps must be"),
    ({"eps": float("inf")}, "eps must be"),
    ({"noise": "common"}, "unknown noise mode 'common'; known: independent, shared"),
    ({"engine": "turbo"}, "unknown cross-sampling engine 'turbo'; known: fast, naive"),
    ({"rule": "tv"}, "unknown switching rule 'tv'; known: js, kl"),
    ({"chunk": "big"}, "unknown chunk policy 'big'; known: adaptive, fixed"),
    ({"chunk_size": 0}, "chunk_size must be"),
    ({"batch_size": 0}, "batch_size must be"),
    ({"limit": 0}, "limit must be"),
    ({"mode": "random"}, "random_rate must be in"),
    ({"mode": "random", "random_rate": 1.5}, "random_rate must be in"),
    ({"random_rate": 0.5}, "applies to mode 'random' only"),
    ({"dtype": "int8"}, "dtype must be one of"),
])
def test_spec_rejects_bad_input_naming_the_field(kwargs, message):
    args = {"eps": 0.1, "budgets": (0, 2), "sampling": PARAMS, **kwargs}
    with pytest.raises(UserError, match=message) as exc:
        CrossSpec(**args)
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize("kwargs,message", [
    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"temperature": 0.0}, "temperature"),
    ({"max_new_tokens": 0}, "max_new_tokens"),
])
def test_sampling_params_reject_bad_input(kwargs, message):
    with pytest.raises(UserError, match=message):
        SamplingParams(**{"seed": 0, "temperature": 1.0, "top_p": 0.9, "max_new_tokens": 8, **kwargs})


def one_line_error(capsys, code: int) -> str:
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return err.strip().splitlines()[-1]


@pytest.mark.parametrize("case,message", [
    ("empty", "dataset {path} has no rows: no prompts to cross-sample"),
    ("corrupt", "dataset {path} is not a readable Parquet file"),
])
def test_unusable_prompt_file_is_one_line(tiny_pair, tmp_path, capsys, case, message):
    path = tmp_path / "prompts.parquet"
    if case == "empty":
        write_parquet(problems_frame([]), path)
    else:
        path.write_bytes(b"PAR1 not really parquet PAR1")
    line = one_line_error(capsys, cli(tiny_pair, path, tmp_path / "o.parquet", "--eps", "0.1", "--budget", "2"))
    assert line.startswith("tokenshift crosssample: error: ") and message.format(path=path) in line
    assert not (tmp_path / "o.parquet").exists()


def test_cli_refuses_to_write_over_the_prompts(tiny_pair, prompts, tmp_path, capsys):
    copy = shutil.copy(prompts, tmp_path / "eval.parquet")
    before = open(copy, "rb").read()
    line = one_line_error(capsys, cli(tiny_pair, copy, copy, "--eps", "0.1", "--budget", "2"))
    assert f"--out {copy} is the --prompts input; refusing to overwrite it" in line
    assert open(copy, "rb").read() == before


def test_cli_device_reaches_the_spec(tiny_pair, prompts, tmp_path, monkeypatch):
    """--device (default: the schema's, auto) is the device the models load on."""
    seen = []

    def record(primary, intervention, data, spec, progress):
        seen.append(spec.device)
        raise UserError("stop before loading models")

    monkeypatch.setattr("tokenshift.commands.crosssample.cross_sample_dataset", record)
    assert cli(tiny_pair, prompts, tmp_path / "o.parquet", "--eps", "0.1", "--budget", "2") == 2
    assert cli(tiny_pair, prompts, tmp_path / "o.parquet", "--eps", "0.1", "--budget", "2", "--device", "cpu") == 2
    assert seen == ["auto", "cpu"]
