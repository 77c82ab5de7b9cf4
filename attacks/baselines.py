"""Baseline attacks that a published attack must beat at equal budget (DESIGN §8.4)."""

from __future__ import annotations

import random

from robustness.adversarial import AttackOutcome, Target, Victim
from robustness.errors import ConfigError

from attacks.components import SynonymSubstitution, WordConstraints, WordSequence, substitution_options

STUFFING_POSITIONS = ("start", "end", "repeat")


class KeywordStuffing:
    """"Query+" spamming (Wu et al., TOIS 2022, task 4): put the query into the document.

    - start: the whole query prepended; end: appended (beyond a model's max length it is
      truncated away — a real property of the victim, reported as such);
    - repeat: the query inserted `times` times at random word positions.
    Static: it never queries the victim.
    """

    def __init__(self, position: str = "start", times: int = 3):
        if position not in STUFFING_POSITIONS:
            raise ConfigError(f"keyword_stuffing position {position!r} is not one of {', '.join(STUFFING_POSITIONS)}")
        if times < 1:
            raise ConfigError(f"keyword_stuffing times must be >= 1, got {times}")
        self.position = position
        self.times = times
        self.name = f"query+{position}"

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        words = target.text.split()
        query = target.query.strip()
        if self.position == "start":
            return AttackOutcome(f"{query} {target.text}", [{"insert": query, "at": 0}])
        if self.position == "end":
            return AttackOutcome(f"{target.text} {query}", [{"insert": query, "at": len(words)}])
        positions = sorted(rng.randint(0, len(words)) for _ in range(self.times))
        for offset, at in enumerate(positions):
            words.insert(at + offset, query)
        return AttackOutcome(" ".join(words), [{"insert": query, "at": at} for at in positions])


class RandomSubstitution:
    """Random synonym substitution: the baseline a word-substitution attack must beat at equal
    budget (DESIGN §8.4).

    Replaces `budget` (default 20, PRADA's) randomly chosen words by randomly chosen synonyms,
    under the same constraints and synonym source as PRADA (`attacks.components`; "combined"
    at 0.5, top 50, by default). Static: it never queries the victim, so it measures what
    synonym noise alone does to a rank; with fewer eligible words than `budget`, all of them
    change. Deterministic under the `rng` it is given.
    """

    name = "random_substitution"

    def __init__(
        self,
        budget: int = 20,
        synonym_source: str = "combined",
        synonym_threshold: float = 0.5,
        synonym_k: int = 50,
        protect_query_terms: bool = False,
        min_similarity: float | None = None,
    ) -> None:
        self.constraints = WordConstraints(budget, protect_query_terms=protect_query_terms, min_similarity=min_similarity)
        self.transformation = SynonymSubstitution(synonym_source, synonym_threshold, synonym_k)
        self.constraints.check_source(self.transformation)

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        doc = WordSequence(target.text)
        options = substitution_options(doc, target.query, self.constraints, self.transformation)
        chosen = sorted(rng.sample(sorted(options), min(self.constraints.budget, len(options))))
        changes = {position: rng.choice(options[position]) for position in chosen}
        edits = [{"position": p, "from": doc.word(p), "to": changes[p]} for p in chosen]
        return AttackOutcome(doc.replaced(changes), edits)
