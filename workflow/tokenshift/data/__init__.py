"""Data: the problems a run works on, their prompts, and the organism's tokenizer.

``loader`` reads a configured dataset (hub, local Parquet/JSONL, or a built-in ``generators``
entry: the organism's chains, arithmetic word problems) into a checked problem table;
``prompts`` renders each problem with a plain template or the model's chat template;
``datasets`` reads prepared tables (problem_id, problem, prompt, answer[, solution]);
``organism`` is the model organism's synthetic task (generator, solutions with optional
slips, verifier); ``vocab`` builds its character-level tokenizer."""
