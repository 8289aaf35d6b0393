"""Training: the model organism and its fine-tuned versions.

``supervised`` is next-token SFT on task solutions (the base from scratch, the SFT
comparison model from the base); ``dapo`` is RL with verifiable rewards through TRL's
GRPOTrainer in its DAPO configuration; ``weighting`` holds the divergence weights of the
paper's weighted-advantage runs (k3 KL, Eq. 5 and Eq. 7, the α schedule) as pure functions."""
