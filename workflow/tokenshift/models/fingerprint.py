"""A tokenizer's fingerprint: one stable hash of what its token ids mean.

Generation tables record the fingerprint of the tokenizer that wrote their ids, so a later stage
can tell that its own tokenizer reads them the same way; two tokenizers of one vocabulary size
can map the same id to different text, which no count or shape reveals.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from tokenshift.errors import UserError
from tokenshift.files.parquet import read_metadata

log = logging.getLogger(__name__)

# The Parquet metadata key of a generation table's tokenizer fingerprint.
FINGERPRINT_KEY = "tokenizer_fingerprint"


def tokenizer_fingerprint(tokenizer: PreTrainedTokenizerBase) -> str:
    """sha256 over the sorted token -> id mapping (added and special tokens included) and the EOS id.

    Exactly what :func:`tokenshift.models.loading.shared_vocab_size` compares, so the base and
    tuned models of a pair always share a fingerprint even when their pad token or chat template
    differ, which change no id's meaning.
    """
    payload = {"vocab": sorted(tokenizer.get_vocab().items()), "eos_token_id": tokenizer.eos_token_id}
    text = json.dumps(payload, separators=(",", ":"))  # ASCII escapes: any token text encodes
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def check_fingerprint(table: str | Path, tokenizer: PreTrainedTokenizerBase, model: str | Path) -> None:
    """Raise if the generation table ``table`` records another tokenizer than ``tokenizer`` (``model`` names
    its owner); warn if it records none (a file written before fingerprints were), whose ids go unchecked."""
    recorded = read_metadata(table).get(FINGERPRINT_KEY)
    if recorded is None:
        log.warning("generations %s record no tokenizer fingerprint (an older file): their token ids are not "
                    "checked against the tokenizer of %s", table, model)
        return
    ours = tokenizer_fingerprint(tokenizer)
    if recorded != ours:
        raise UserError(f"generations {table} were tokenized with another tokenizer than {model} (fingerprint "
                        f"{recorded[:15]} vs {ours[:15]}); generate them with this model's tokenizer")
