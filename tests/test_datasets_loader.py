"""Dataset entries -> checked problem tables: files, hub (offline), generators, and every bad input."""

import json
import re

import datasets
import huggingface_hub.constants
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.data.datasets import problems_frame, read_dataset
from tokenshift.data.generators import GENERATORS
from tokenshift.data.loader import load_problems
from tokenshift.data.organism import solution, split_problems
from tokenshift.errors import UserError

ROWS = [
    {"id": 7, "question": "Compute $\\frac{1}{2}+{x}$.", "solution": 204, "extra": "a"},
    {"id": 3, "question": "What is 2+2?", "solution": [4], "extra": "b"},
    {"id": 11, "question": "Find $y$.", "solution": 2.0, "extra": "c"},
]


def _jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _entry(**kw):
    return {"name": "mine", **kw}


def _user_error(entry, *fragments, seed=0, root=None):
    """The one-line UserError of a bad entry, checked to name every fragment."""
    with pytest.raises(UserError) as info:
        load_problems(entry, seed, root)
    msg = str(info.value)
    assert "\n" not in msg and "'mine'" in msg, msg
    for f in fragments:
        assert f in msg, (f, msg)
    return msg


# --- files -------------------------------------------------------------------------------------


def test_jsonl_and_parquet_load_the_same_table_with_field_mapping(tmp_path):
    _jsonl(tmp_path / "d.jsonl", ROWS)
    pl.DataFrame({"id": [7, 3, 11], "question": [r["question"] for r in ROWS],
                  "solution": ["204", "4", "2"]}).write_parquet(tmp_path / "d.parquet")
    spec = {"problem_field": "question", "answer_field": "solution", "id_field": "id"}
    a = load_problems(_entry(path="d.jsonl", **spec), 0, tmp_path)
    b = load_problems(_entry(path=str(tmp_path / "d.parquet"), **spec), 0)
    assert a.schema == pl.Schema({"problem_id": pl.Int64, "problem": pl.String, "answer": pl.String})
    assert a.equals(b)
    assert a["problem_id"].to_list() == [7, 3, 11]
    assert a["answer"].to_list() == ["204", "4", "2"]  # int, one-element list, integral float
    assert a["problem"][0] == "Compute $\\frac{1}{2}+{x}$."


def test_default_fields_row_index_ids_and_limit(tmp_path):
    rows = [{"problem": f"p{i}", "answer": i / 2} for i in range(5)]
    df = load_problems(_entry(path="d.jsonl", limit=3), 0, _jsonl(tmp_path / "d.jsonl", rows).parent)
    assert df["problem_id"].to_list() == [0, 1, 2]
    assert df["answer"].to_list() == ["0", "0.5", "1"]
    assert load_problems(_entry(path="d.jsonl", limit=50), 0, tmp_path).height == 5


def test_solution_field_is_carried_and_checked(tmp_path):
    rows = [{"problem": "p", "answer": 1, "worked": "1 = 1"}, {"problem": "q", "answer": 2, "worked": "2"}]
    df = load_problems(_entry(path="d.jsonl", solution_field="worked"), 0, _jsonl(tmp_path / "d.jsonl", rows).parent)
    assert df.columns == ["problem_id", "problem", "answer", "solution"]
    assert df["solution"].to_list() == ["1 = 1", "2"]
    assert load_problems(_entry(path="d.jsonl"), 0, tmp_path).columns == ["problem_id", "problem", "answer"]
    _jsonl(tmp_path / "e.jsonl", [*rows, {"problem": "r", "answer": 3, "worked": ""}])
    _user_error(_entry(path="e.jsonl", solution_field="worked"), "solution_field 'worked'", "id 2", "empty",
                root=tmp_path)


def test_jsonl_lines_are_split_on_newlines_only(tmp_path):
    (tmp_path / "d.jsonl").write_text(json.dumps({"problem": "a\u2028b", "answer": 1}, ensure_ascii=False) + "\r\n")
    assert load_problems(_entry(path="d.jsonl"), 0, tmp_path)["problem"].to_list() == ["a\u2028b"]


def test_duplicate_problem_texts_are_allowed(tmp_path):
    _jsonl(tmp_path / "d.jsonl", [{"problem": "same", "answer": 1}, {"problem": "same", "answer": 2}])
    assert load_problems(_entry(path="d.jsonl"), 0, tmp_path).height == 2


def test_string_ids_that_are_integers_are_accepted(tmp_path):
    _jsonl(tmp_path / "d.jsonl", [{"k": "12", "problem": "p", "answer": "1"}])
    assert load_problems(_entry(path="d.jsonl", id_field="k"), 0, tmp_path)["problem_id"].to_list() == [12]


def test_missing_and_unsupported_files(tmp_path):
    _user_error(_entry(path="none.jsonl"), "none.jsonl", "not found", "path", root=tmp_path)
    (tmp_path / "d.csv").write_text("problem,answer\nx,1\n")
    _user_error(_entry(path="d.csv"), "d.csv", ".parquet or .jsonl", root=tmp_path)


def test_files_that_do_not_parse(tmp_path):
    (tmp_path / "d.jsonl").write_text('{"problem": "a", "answer": 1}\n\n{"problem": "b", "answer": \n')
    _user_error(_entry(path="d.jsonl"), "d.jsonl", "line 3", "not valid JSON", root=tmp_path)
    (tmp_path / "l.jsonl").write_text('[1, 2]\n')
    _user_error(_entry(path="l.jsonl"), "l.jsonl", "line 1", "not an object", root=tmp_path)
    (tmp_path / "d.parquet").write_bytes(b"definitely not parquet\n")
    _user_error(_entry(path="d.parquet"), "d.parquet", "not valid Parquet", root=tmp_path)


@pytest.mark.parametrize("key", ["problem_field", "answer_field", "id_field"])
def test_missing_fields_list_the_columns(tmp_path, key):
    _jsonl(tmp_path / "d.jsonl", ROWS)
    spec = {"problem_field": "question", "answer_field": "solution", "id_field": "id", key: "nope"}
    msg = _user_error(_entry(path="d.jsonl", **spec), "d.jsonl", key, "'nope'", root=tmp_path)
    assert "columns: id, question, solution, extra" in msg


def test_empty_datasets(tmp_path):
    (tmp_path / "e.jsonl").write_text("\n")
    _user_error(_entry(path="e.jsonl"), "e.jsonl", "no rows", root=tmp_path)
    pl.DataFrame(schema={"problem": pl.String, "answer": pl.String}).write_parquet(tmp_path / "e.parquet")
    _user_error(_entry(path="e.parquet"), "e.parquet", "no rows", root=tmp_path)


@pytest.mark.parametrize("answer", [None, "", "  ", [], float("nan")])
def test_empty_answers_name_the_id(tmp_path, answer):
    rows = [{"id": 5, "problem": "a", "answer": 1}, {"id": 9, "problem": "b", "answer": answer}]
    _jsonl(tmp_path / "d.jsonl", rows)
    _user_error(_entry(path="d.jsonl", id_field="id"), "d.jsonl", "answer_field 'answer'", "id 9", "empty",
                root=tmp_path)


def test_absent_answer_key_in_a_jsonl_row_is_an_empty_answer(tmp_path):
    _jsonl(tmp_path / "d.jsonl", [{"problem": "a", "answer": 1}, {"problem": "b"}])
    _user_error(_entry(path="d.jsonl"), "answer_field 'answer'", "id 1", root=tmp_path)


def test_multi_value_answers_empty_problems_and_bad_ids(tmp_path):
    _jsonl(tmp_path / "a.jsonl", [{"problem": "a", "answer": [1, 2]}])
    _user_error(_entry(path="a.jsonl"), "answer_field", "id 0", "2 values", root=tmp_path)
    _jsonl(tmp_path / "p.jsonl", [{"problem": "a", "answer": 1}, {"problem": None, "answer": 1}])
    _user_error(_entry(path="p.jsonl"), "problem_field 'problem'", "id 1", "empty", root=tmp_path)
    _jsonl(tmp_path / "i.jsonl", [{"k": "x-1", "problem": "a", "answer": 1}])
    _user_error(_entry(path="i.jsonl", id_field="k"), "id_field 'k'", "'x-1'", "not an integer", root=tmp_path)


def test_duplicate_ids_name_one(tmp_path):
    _jsonl(tmp_path / "d.jsonl", [{"k": i % 2 + 40, "problem": f"p{i}", "answer": 1} for i in range(4)])
    _user_error(_entry(path="d.jsonl", id_field="k"), "d.jsonl", "id_field 'k'", "repeats id 40", root=tmp_path)


def test_exactly_one_source(tmp_path):
    _user_error(_entry(), "exactly one of hub, path, generator", "none")
    _user_error(_entry(path="a.jsonl", hub="x/y"), "exactly one of", "hub, path")


# --- hub ---------------------------------------------------------------------------------------


@pytest.fixture
def offline(monkeypatch):
    """HF_HUB_OFFLINE=1 as datasets and huggingface_hub read it (both cache it at import)."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)


def test_uncached_hub_dataset_offline_says_how_to_predownload(offline):
    entry = _entry(hub="tokenshift-tests/no-such-dataset", subset="main", split="test")
    msg = _user_error(entry, "hub tokenshift-tests/no-such-dataset", "not in the local Hugging Face cache",
                      "HF_HOME")
    assert "datasets.load_dataset('tokenshift-tests/no-such-dataset', 'main', split='test')" in msg


def test_hub_entries_map_fields_like_files(monkeypatch):
    calls = []
    ds = datasets.Dataset.from_list([{**r, "solution": [str(r["solution"]).strip("[]")]} for r in ROWS])

    def fake_load(repo, subset, split, revision):
        calls.append((repo, subset, split, revision))
        return ds

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    df = load_problems(_entry(hub="org/aime", problem_field="question", answer_field="solution", limit=2), 0)
    assert calls == [("org/aime", None, "test", None)]
    assert df["problem_id"].to_list() == [0, 1] and df["answer"].to_list() == ["204", "4"]
    assert df["problem"][0] == ROWS[0]["question"]


@pytest.mark.parametrize("exc", [ValueError('Unknown split "test". Should be one of [\'train\'].\nmore'),
                                 datasets.exceptions.DatasetNotFoundError("Dataset 'x/y' doesn't exist")])
def test_hub_lookup_errors_are_one_line(monkeypatch, exc):
    def fake_load(*args, **kwargs):
        raise exc

    monkeypatch.setattr(datasets, "load_dataset", fake_load)
    _user_error(_entry(hub="x/y"), "hub x/y", str(exc).splitlines()[0])


# --- generators --------------------------------------------------------------------------------


def _generated(name, split, n, seed, **options):
    return load_problems(_entry(generator=name, split=split, n=n, options=options), seed)


@given(st.integers(0, 10_000), st.integers(1, 60), st.integers(1, 60))
@settings(max_examples=30, deadline=None)
def test_organism_generator_reproduces_split_problems(seed, n_train, n_eval):
    train, evals = split_problems(n_train, n_eval, seed, 1, 3)
    opts = {"n_train": n_train, "n_eval": n_eval, "min_steps": 1, "max_steps": 3}
    for split, expected in (("train", train), ("eval", evals)):
        n = n_train if split == "train" else n_eval
        got = _generated("organism", split, n, seed, **opts)
        assert got.drop("solution").equals(problems_frame(expected).select("problem_id", "problem", "answer"))
        assert got["solution"].to_list() == [solution(p) for p in expected]


def test_organism_generator_needs_the_other_split_size():
    with pytest.raises(UserError, match="n_eval is needed"):
        GENERATORS.get("organism")("train", 5, 0)
    with pytest.raises(UserError, match="contradicts"):
        GENERATORS.get("organism")("eval", 5, 0, n_train=3, n_eval=4)


@given(st.sampled_from(["organism", "arithmetic"]), st.integers(0, 10_000), st.integers(1, 150),
       st.integers(1, 150), st.sampled_from([["+"], ["-"], ["+", "-"]]))
@settings(max_examples=40, deadline=None)
def test_generated_splits_are_disjoint_and_deterministic(name, seed, n_train, n_eval, ops):
    opts = {"n_train": n_train, "n_eval": n_eval} if name == "organism" else {"ops": ops}
    train = _generated(name, "train", n_train, seed, **opts)
    evals = _generated(name, "eval", n_eval, seed, **opts)
    assert train.height == n_train and evals.height == n_eval
    assert train["problem_id"].to_list() == list(range(n_train))
    assert not set(train["problem"]) & set(evals["problem"])
    assert train.equals(_generated(name, "train", n_train, seed, **opts))
    assert train["problem"].n_unique() == n_train


_NUMBERS = re.compile(r"\d+")


@given(st.integers(0, 10_000), st.integers(1, 120), st.integers(0, 50), st.integers(0, 60),
       st.integers(0, 9), st.integers(0, 9))
@settings(max_examples=40, deadline=None)
def test_arithmetic_answers_are_right_and_never_negative(seed, n, min_a, span_a, min_b, span_b):
    opts = {"min_a": min_a, "max_a": min_a + span_a, "min_b": min_b, "max_b": min_b + span_b, "ops": ["+", "-"]}
    try:
        rows = GENERATORS.get("arithmetic")("eval", n, seed, **opts)
    except UserError as exc:  # small operand ranges cannot hold n distinct problems
        assert "distinct" in str(exc)
        return
    for row in rows:
        a, b = map(int, _NUMBERS.findall(row["problem"]))
        subtract = any(w in row["problem"] for w in ("-", "gave away", "sold", "fly away", "Subtract"))
        first, second = (b, a) if row["problem"].startswith("Subtract") else (a, b)
        assert min_a <= first <= min_a + span_a and min_b <= second <= min_b + span_b
        expected = first - second if subtract else first + second
        assert expected >= 0 and row["answer"] == str(expected)
        assert row["solution"] == f"{first} {'-' if subtract else '+'} {second} = {expected}. The answer is {expected}."


def test_arithmetic_eval_split_is_independent_of_the_train_size():
    """Each split is the first n of its own stream, so growing one never changes the other."""
    small, big = _generated("arithmetic", "eval", 50, 3), _generated("arithmetic", "eval", 80, 3)
    assert small.equals(big.head(50))
    assert _generated("arithmetic", "train", 40, 3).equals(_generated("arithmetic", "train", 90, 3).head(40))


def test_arithmetic_seeds_differ_and_no_sum_crosses_splits():
    assert not _generated("arithmetic", "eval", 30, 0).equals(_generated("arithmetic", "eval", 30, 1))

    def sums(df):
        return {tuple(_NUMBERS.findall(p)) for p in df["problem"]}

    assert not sums(_generated("arithmetic", "train", 500, 0)) & sums(_generated("arithmetic", "eval", 150, 0))


def test_bad_generator_entries_name_the_key():
    _user_error(_entry(generator="nope", split="eval", n=3), "generator nope", "known: organism, arithmetic")
    _user_error(_entry(generator="arithmetic", split="test", n=3), "split", "'test'")
    _user_error(_entry(generator="arithmetic", split="eval", n=3, options={"colour": 1}), "'colour'", "options")
    _user_error(_entry(generator="arithmetic", split="eval", n=3, options={"ops": ["*"]}), "ops")
    _user_error(_entry(generator="arithmetic", split="eval", n=10**6), "hold 3600 distinct problems in all")
    small = {"min_a": 10, "max_a": 12, "min_b": 2, "max_b": 3}  # 30 texts, most of them train
    _user_error(_entry(generator="arithmetic", split="eval", n=25, options=small), "only", "distinct eval")


# --- prepared tables ---------------------------------------------------------------------------


def test_read_dataset_keeps_solutions(tmp_path):
    frame = _generated("arithmetic", "eval", 5, 0).with_columns(pl.col("problem").alias("prompt"))
    frame.write_parquet(tmp_path / "d.parquet")
    assert read_dataset(tmp_path / "d.parquet")["solution"].equals(frame["solution"])


def test_read_dataset_keeps_problem_and_accepts_tables_without_it(tmp_path):
    _, evals = split_problems(10, 3, 0, 3, 3)
    frame = problems_frame(evals).with_columns(pl.concat_str(pl.lit("Q: "), "problem").alias("prompt"))
    frame.write_parquet(tmp_path / "new.parquet")
    assert read_dataset(tmp_path / "new.parquet").equals(frame)
    frame.drop("problem").write_parquet(tmp_path / "old.parquet")
    old = read_dataset(tmp_path / "old.parquet")
    assert old.columns == ["problem_id", "problem", "prompt", "answer"]
    assert old["problem"].equals(old["prompt"].alias("problem"))
