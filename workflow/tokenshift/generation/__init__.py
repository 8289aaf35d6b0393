"""Generation: n sampled responses per prompt with a KV cache and keyed noise.

``sampler`` draws every token with the uniform of its key (seed, problem, sample, position,
stream), so plain generation is reproducible bit for bit and equals cross-sampling with a
budget of zero."""
