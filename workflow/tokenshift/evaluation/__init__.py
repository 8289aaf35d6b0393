"""Evaluation: is a response correct, and how accurate is a model.

``graders`` holds one registry of answer checkers (the organism's verifier, math answers via
math-verify, multiple-choice letters); each dataset names its grader. ``accuracy`` grades a
table of responses and computes Mean@n with a bootstrap confidence interval over problems."""
