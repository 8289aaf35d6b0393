"""Data: the problems a run works on and the organism's tokenizer.

``organism`` is the synthetic verifiable task of the model organism (problem generator,
reference solutions with optional slips, verifier); ``vocab`` builds its character-level
tokenizer; ``datasets`` reads and writes problem tables (problem_id, prompt, answer)."""
