"""Distributions: the math that sampling, cross-sampling and analysis share.

Top-p truncation (``topp``), divergences between next-token distributions
(``divergences``), counter-based keyed noise (``keyed``) and the keyed inverse-CDF draw at a
temperature (``draw``). One definition each, so the distribution a token is drawn from is the
very one whose divergence is measured."""
