"""Evaluation: is a response correct, and how accurate is a model.

``accuracy`` grades responses with the task's verifier and computes Mean@n with a bootstrap
confidence interval over problems."""
