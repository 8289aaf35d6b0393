"""Models: where they come from, loading them, and decoding with them.

``sources`` resolves a configured model (local directory, hub id, GGUF file) to a directory;
``device`` picks the torch device; ``loading`` builds the organism's tiny Llama, loads
tokenizers and safetensors weights and checks that two models share a tokenizer before any
heavy work; ``decoding`` is incremental decoding of a ragged batch with a KV cache whose
tokens can be taken back."""
