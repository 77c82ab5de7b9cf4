"""A per-query attack run over a query group: the baseline a topic attack must beat (DESIGN §8.2).

TARA claims that one perturbation learned for a whole topic beats attacking the topic's
queries one at a time. `PerQuery` is that one-at-a-time attack made comparable: the inner
attack (PRADA by default) rewrites the same document for each query of the group in turn, each
pass starting from the previous pass's text, with the group's word budget split evenly over
the queries (the first queries take the remainder) and every victim query counted in the
group's victim (`Victim.only`), so both attacks play with the same words and the same victim
queries. Before each pass after the first, the victim is asked (one counted query) where the
current text stands for that query, since the inner attack keeps a change only when it beats
its starting rank.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from robustness.config import ComponentSpec
from robustness.errors import ConfigError
from robustness.protocols.attack import Attack, AttackOutcome, AttackSetup, BudgetExhausted, Target, Victim, edits_between, set_up_attack
from robustness.registry import check_params, make

__all__ = ["PerQuery", "split_budget"]


def split_budget(total: int, n_queries: int) -> list[int]:
    """`total` words over `n_queries` passes, as evenly as possible, the first ones taking the rest."""
    share, rest = divmod(total, n_queries)
    return [share + (1 if i < rest else 0) for i in range(n_queries)]


class PerQuery:
    """`attack` (a registered attack with a `budget` parameter) run query by query on one text.

    Parameters: `attack` ({name, params} or a name; default PRADA) and `word_budget`, the
    group's total word budget (20, PRADA's budget for one query).
    """

    def __init__(self, attack: ComponentSpec | Mapping[str, Any] | str = "prada", word_budget: int = 20) -> None:
        self.spec = ComponentSpec.model_validate({"name": attack} if isinstance(attack, str) else attack)
        if not isinstance(word_budget, int) or word_budget < 1:
            raise ConfigError(f"per_query word_budget must be an integer >= 1, got {word_budget!r}")
        check_params("attack", self.spec.name, {**self.spec.params, "budget": 1}, where="per_query attack (it needs a budget parameter)")
        self.word_budget = word_budget
        self.name = f"{self.spec.name} per query"
        self._setup: AttackSetup | None = None
        self._inner: dict[int, Attack] = {}

    def setup(self, setup: AttackSetup) -> dict[str, Any]:
        """Prepare the inner attack once (e.g. PRADA's surrogate); other budgets reuse its cache."""
        self._setup = setup
        self._inner = {}
        return set_up_attack(self._attack(self.word_budget), setup)

    def _attack(self, budget: int) -> Attack:
        if budget not in self._inner:
            inner = make("attack", self.spec.name, {**self.spec.params, "budget": budget}, where="per_query attack")
            if self._setup is not None:
                set_up_attack(inner, self._setup)
            self._inner[budget] = inner
        return self._inner[budget]

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        text = target.text
        for index, budget in enumerate(split_budget(self.word_budget, len(target.queries))):
            if budget == 0:
                continue
            view = victim.only(index)
            try:
                rank = target.old_ranks[index] if text == target.text else view.ranks([text])[0]
                outcome = self._attack(budget).attack(
                    Target.single(target.query_ids[index], target.queries[index], target.doc_id, text, rank, target.group),
                    view, random.Random(rng.getrandbits(64)),
                )
            except BudgetExhausted:
                break
            text = outcome.text
        return AttackOutcome(text, edits_between(target.text, text))
