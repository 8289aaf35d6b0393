"""Models: loading HF causal LMs and decoding with them.

``loading`` builds the organism's tiny Llama, loads tokenizers and safetensors weights and
checks that two models share a tokenizer before any heavy work; ``decoding`` is incremental
decoding of a ragged batch with a KV cache whose tokens can be taken back."""
