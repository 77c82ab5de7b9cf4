"""Rankers: the interface and the built-in adapters (registered in robustness.registry)."""

from robustness.rankers.base import Ranker, check_interface, prepare_ranker, validate_scores
from robustness.rankers.callable import CallableRanker

__all__ = ["CallableRanker", "Ranker", "check_interface", "prepare_ranker", "validate_scores"]
