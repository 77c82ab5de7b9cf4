"""Attacks on rankers: baselines and published recipes, looked up by name.

An attack implements `robustness.adversarial.Attack`: `attack(target, victim, rng) ->
AttackOutcome`. The runner builds attacks from spec names through `make_attack`; the
robustness tasks receive them and never import this package.
"""

from __future__ import annotations

import importlib
from typing import Any

from robustness.errors import ConfigError

ATTACKS: dict[str, tuple[str, str]] = {
    "keyword_stuffing": ("attacks.baselines:KeywordStuffing", "Query+ keyword stuffing: the query inserted at the start, end, or repeated"),
    "textattack": ("attacks.textattack_bridge:TextAttackRecipe", "TextAttack pieces (WordNet/GloVe word swaps, greedy or greedy-WIR search) under a ranking goal; needs textattack installed"),
    "prada": ("attacks.word_substitution:PRADA", "PRADA word substitution: surrogate-guided synonym swaps kept only if the victim rank improves"),
    "random_substitution": ("attacks.baselines:RandomSubstitution", "random synonym substitution under PRADA's budget and synonym source (baseline)"),
}


def available_attacks() -> dict[str, str]:
    return {name: description for name, (_, description) in ATTACKS.items()}


def make_attack(name: str, **params: Any) -> Any:
    if name not in ATTACKS:
        raise ConfigError(f"unknown attack {name!r} (known: {', '.join(ATTACKS)})")
    module_name, _, attr = ATTACKS[name][0].partition(":")
    factory = getattr(importlib.import_module(module_name), attr)
    try:
        return factory(**params)
    except TypeError as exc:
        raise ConfigError(f"attack {name!r} does not take params {sorted(params)}: {exc}") from None
