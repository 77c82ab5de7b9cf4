"""Search components: how an attack walks through its admissible substitutions (DESIGN §8).

A recipe assembles a search with a transformation (the candidates of each word position,
`robustness.attacks.components`) and constraints; the search decides which substitutions to
try and which to keep. The goal is the victim's rank of the target for every query of its
group (`robustness.protocols.attack.Victim`); a search keeps a change only when it raises the
group's total rank gain (for a single query: when the target's rank improves).

- `RandomSearch`: static, never queries the victim (the random-substitution baseline);
- `GreedySearch`: decision-based; visits positions in the order it is given (word importance
  for PRADA, a random order for TextAttack's recipe) and keeps the best of a few replacements
  per position when it improves the goal;
- `BeamSearch`: the same walk with the `width` best partial documents kept at every position.

Every search returns the same `SearchResult` (the changes and their `Edit` records).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from robustness.errors import ConfigError
from robustness.protocols.attack import BudgetExhausted, Edit, Victim

from robustness.attacks.components import WordSequence

Candidates = Callable[[int], Sequence[str]]
"""Position -> its admissible replacements, preferred first (computed when the search asks)."""

Accept = Callable[[WordSequence, Mapping[int, str], int, str], bool]
"""(document, changes so far, position, replacement) -> whether a constraint admits the swap.

An accept hook may also have `select(document, changes, position, candidates, limit)`, which
returns the first `limit` candidates it admits, as the one-by-one calls would, but in batches
(the windowed-similarity constraint encodes its windows that way); the searches use it when
present."""


def rank_gain(old_ranks: Sequence[int], new_ranks: Sequence[int]) -> int:
    """The goal a search maximises: total rank gain over the target's queries."""
    return sum(old - new for old, new in zip(old_ranks, new_ranks))


@dataclass
class SearchResult:
    """The substitutions a search kept (position -> replacement) and their edit records."""

    changes: dict[int, str] = field(default_factory=dict)
    edits: list[Edit] = field(default_factory=list)


def _admissible(doc: WordSequence, changes: Mapping[int, str], position: int, candidates: Sequence[str], limit: int, accept: Accept | None) -> list[str]:
    """The first `limit` candidates the constraint admits (all of them without a constraint)."""
    if accept is None:
        return list(candidates[:limit])
    select = getattr(accept, "select", None)
    if select is not None:
        return list(select(doc, changes, position, candidates, limit))
    chosen: list[str] = []
    for candidate in candidates:
        if accept(doc, changes, position, candidate):
            chosen.append(candidate)
            if len(chosen) == limit:
                break
    return chosen


class RandomSearch:
    """Static random search: `budget` random positions, each replaced by a random candidate.

    Never queries the victim, so it measures what synonym noise alone does to a rank; with
    fewer positions than `budget`, all of them change. Deterministic under the `rng` given.
    With an `accept` constraint, positions are visited in a random order and each gets a
    random candidate among those the constraint admits on top of the changes kept so far
    (a position with none stays), until `budget` words changed.
    """

    def run(
        self,
        doc: WordSequence,
        options: Mapping[int, Sequence[str]],
        budget: int,
        rng: random.Random,
        accept: Accept | None = None,
    ) -> SearchResult:
        if accept is None:
            chosen = sorted(rng.sample(sorted(options), min(budget, len(options))))
            changes = {position: rng.choice(list(options[position])) for position in chosen}
            return SearchResult(changes, [doc.substitution(p, changes[p]) for p in chosen])
        order = sorted(options)
        rng.shuffle(order)
        kept: dict[int, str] = {}
        for position in order:
            if len(kept) >= budget:
                break
            candidates = list(options[position])
            rng.shuffle(candidates)
            admitted = _admissible(doc, kept, position, candidates, 1, accept)
            if admitted:
                kept[position] = admitted[0]
        changes = {p: kept[p] for p in sorted(kept)}
        return SearchResult(changes, [doc.substitution(p, r) for p, r in changes.items()])


class GreedySearch:
    """Decision-based greedy search over word positions.

    Positions are visited in the order given; at each, the first `candidates_per_step`
    admissible replacements (on top of the changes kept so far) go to the victim in one batch,
    and the best is kept if it raises the rank gain. `tie_break(current, candidate)` may keep
    a candidate that leaves the ranks unchanged (PRADA's `keep_rank_ties`). The walk stops at
    the word budget, when every query ranks the target first, or when the victim's query
    budget runs out.
    """

    def __init__(self, candidates_per_step: int = 3) -> None:
        if not isinstance(candidates_per_step, int) or candidates_per_step < 1:
            raise ConfigError(f"candidates_per_step must be an integer >= 1, got {candidates_per_step!r}")
        self.candidates_per_step = candidates_per_step

    def run(
        self,
        doc: WordSequence,
        positions: Sequence[int],
        candidates: Candidates,
        victim: Victim,
        old_ranks: Sequence[int],
        budget: int,
        accept: Accept | None = None,
        tie_break: Callable[[str, str], bool] | None = None,
    ) -> SearchResult:
        result = SearchResult()
        ranks = tuple(old_ranks)
        for position in positions:
            if len(result.changes) >= budget or all(r == 1 for r in ranks):
                break
            tried = _admissible(doc, result.changes, position, candidates(position), self.candidates_per_step, accept)
            if not tried:
                continue
            texts = [doc.replaced({**result.changes, position: c}) for c in tried]
            try:
                answers = victim.group_ranks(texts)
            except BudgetExhausted:
                break
            gains = [rank_gain(old_ranks, a) for a in answers]
            best = max(range(len(tried)), key=lambda i: (gains[i], -i))
            current = rank_gain(old_ranks, ranks)
            keep = gains[best] > current
            if not keep and gains[best] == current and tie_break is not None:
                keep = tie_break(doc.replaced(result.changes), texts[best])
            if keep:
                ranks = answers[best]
                result.changes[position] = tried[best]
                result.edits.append(doc.substitution(position, tried[best], ranks))
        return result


class BeamSearch:
    """Decision-based beam search: the `width` best partial documents survive each position.

    At each position every surviving document is expanded by its first `candidates_per_step`
    admissible replacements (all expansions of a step in one victim call); the survivors are
    the `width` best by rank gain among the expansions and the unexpanded documents, ties
    keeping fewer changes. Returns the best document found. Costs up to `width` times
    `GreedySearch`'s victim queries; with `width=1` it keeps the best of each step as the
    greedy search does (and also keeps unchanged documents on ties).
    """

    def __init__(self, width: int = 3, candidates_per_step: int = 3) -> None:
        if not isinstance(width, int) or width < 1:
            raise ConfigError(f"beam width must be an integer >= 1, got {width!r}")
        if not isinstance(candidates_per_step, int) or candidates_per_step < 1:
            raise ConfigError(f"candidates_per_step must be an integer >= 1, got {candidates_per_step!r}")
        self.width = width
        self.candidates_per_step = candidates_per_step

    def run(
        self,
        doc: WordSequence,
        positions: Sequence[int],
        candidates: Candidates,
        victim: Victim,
        old_ranks: Sequence[int],
        budget: int,
        accept: Accept | None = None,
    ) -> SearchResult:
        # A beam entry: (gain, changes, edits, ranks).
        beam: list[tuple[int, dict[int, str], list[Edit], tuple[int, ...]]] = [(0, {}, [], tuple(old_ranks))]
        for position in positions:
            expansions: list[tuple[int, str, str]] = []  # (beam entry, replacement, text)
            for index, (_, changes, _, ranks) in enumerate(beam):
                if len(changes) >= budget or all(r == 1 for r in ranks):
                    continue
                for candidate in _admissible(doc, changes, position, candidates(position), self.candidates_per_step, accept):
                    expansions.append((index, candidate, doc.replaced({**changes, position: candidate})))
            if not expansions:
                continue
            try:
                answers = victim.group_ranks([text for _, _, text in expansions])
            except BudgetExhausted:
                break
            grown = []
            for (index, candidate, _), ranks in zip(expansions, answers):
                _, changes, edits, _ = beam[index]
                edit = doc.substitution(position, candidate, ranks)
                grown.append((rank_gain(old_ranks, ranks), {**changes, position: candidate}, [*edits, edit], tuple(ranks)))
            beam = sorted(beam + grown, key=lambda entry: (-entry[0], len(entry[1])))[: self.width]
        gain, changes, edits, _ = beam[0]
        return SearchResult(dict(changes), list(edits)) if gain > 0 else SearchResult()
