"""Evaluation: metrics and the eval stage."""
