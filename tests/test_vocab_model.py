"""Tokenizer round trip, model building/loading and the checks before heavy work."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenshift.data.vocab import ALPHABET, build_char_tokenizer, save_char_tokenizer
from tokenshift.models.loading import ModelError, load_model, load_tokenizer, shared_vocab_size


@given(st.text(alphabet=ALPHABET, max_size=60))
@settings(max_examples=100, deadline=None)
def test_char_tokenizer_round_trip(text):
    tok = build_char_tokenizer()
    ids = tok.encode(text, add_special_tokens=False)
    assert len(ids) == len(text)
    assert tok.decode(ids) == text
    assert tok.encode(text)[0] == tok.bos_token_id


def test_saved_tokenizer_reloads_identically(tmp_path):
    save_char_tokenizer(tmp_path)
    tok = load_tokenizer(tmp_path)
    assert tok.get_vocab() == build_char_tokenizer().get_vocab()
    assert tok.decode(tok.encode("12+3=15;#15", add_special_tokens=False)) == "12+3=15;#15"


def test_missing_model_dir_is_a_one_line_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_model(tmp_path / "nope")


def test_tiny_models_load_as_safetensors(tiny_pair):
    base, tuned = tiny_pair
    assert (base / "model.safetensors").is_file()
    model = load_model(base)
    assert not model.training
    assert shared_vocab_size(load_tokenizer(base), load_tokenizer(tuned)) == len(build_char_tokenizer())


def test_different_tokenizers_are_rejected(tmp_path):
    save_char_tokenizer(tmp_path / "a")
    save_char_tokenizer(tmp_path / "b", alphabet=ALPHABET + "x")
    with pytest.raises(ModelError, match="tokenizers differ"):
        shared_vocab_size(load_tokenizer(tmp_path / "a"), load_tokenizer(tmp_path / "b"))


def test_unknown_dtype_is_a_user_error(tiny_pair):
    from tokenshift.errors import UserError
    with pytest.raises(UserError, match="unknown dtype 'int8'"):
        load_model(tiny_pair[0], "int8")
