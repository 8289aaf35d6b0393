"""The named variants of cross-sampling, one registry per kind of choice.

Implementations register themselves where they are defined (``@ENGINES.register("fast")``);
:class:`tokenshift.crosssample.spec.CrossSpec` resolves names through these registries, and
the tests check that workflow/tokenshift/pipeline/schema.yaml's enums and the CLI's choices equal their names.
"""

from __future__ import annotations

from tokenshift.registry import Registry

ENGINES: Registry = Registry("cross-sampling engine")  # run(dec_p, dec_i, lp, li, state, ctx) -> chunk sizes
CHUNKS: Registry = Registry("chunk policy")  # class(size, max_size) with gamma(n_effective, n_tokens)
RULES: Registry = Registry("switching rule")  # class(eps) called on (prim, inter, keys) -> (fires, score)
NOISE: Registry = Registry("noise mode")  # keyed stream of the intervention's draws
MODES: Registry = Registry("cross-sampling mode")  # targeted (the rule) or random (keyed positions at a rate)
