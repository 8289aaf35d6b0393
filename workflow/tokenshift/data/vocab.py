"""Character-level tokenizer for the model organism, built with `tokenizers`, saved in HF format."""

from __future__ import annotations

from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

PAD, BOS, EOS = "<pad>", "<s>", "</s>"
ALPHABET = "0123456789+-=;#"


def build_char_tokenizer(alphabet: str = ALPHABET) -> PreTrainedTokenizerFast:
    """One token per character; ids 0..2 are pad, bos, eos; BOS is prepended to encodings."""
    vocab = {PAD: 0, BOS: 1, EOS: 2}
    for ch in alphabet:
        vocab.setdefault(ch, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.Split(pattern="", behavior="isolated")
    tok.decoder = decoders.Fuse()
    # BOS on every encoding with special tokens, so TRL and HF tokenise prompts as we do.
    tok.post_processor = processors.TemplateProcessing(single=f"{BOS} $A", special_tokens=[(BOS, vocab[BOS])])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, pad_token=PAD, bos_token=BOS, eos_token=EOS
    )
    fast.padding_side = "left"
    return fast


def save_char_tokenizer(out_dir: str | Path, alphabet: str = ALPHABET) -> PreTrainedTokenizerFast:
    """Build the tokenizer and save it in HF format, so every model directory carries its own."""
    tok = build_char_tokenizer(alphabet)
    tok.save_pretrained(str(out_dir))
    return tok
