"""Analysis: what the fine-tuned model changed, position by position.

``divergence`` computes every per-position quantity of two next-token distributions (JS at
several top-p values, entropies, top-k lists and overlap, ranks, tail probabilities) chunk
by chunk; ``dump`` scores a response set with both models into the per-token Parquet table;
``statistics`` turns dumps into the tidy tables behind every shift figure and summary;
``weight_gap`` measures how far the weights themselves moved (σ, streamed from safetensors)."""
