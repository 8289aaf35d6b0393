"""tokenshift: token-level analysis of what RLVR fine-tuning changes in a language model."""

__version__ = "0.1.0"
