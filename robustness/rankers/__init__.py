"""Rankers: the interface, the built-in adapters and the plug-in registry."""

from robustness.rankers.base import Ranker, prepare_ranker, validate_scores
from robustness.rankers.callable import CallableRanker
from robustness.rankers.registry import available_rankers, make_ranker

__all__ = ["Ranker", "CallableRanker", "available_rankers", "make_ranker", "prepare_ranker", "validate_scores"]
