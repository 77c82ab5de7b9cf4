"""What an attack receives and returns: targets, the black-box victim, edits, outcomes.

An attack (DESIGN §8, TextAttack's decomposition) is a goal, constraints, a transformation and
a search. The goal is owned here: a target document's rank in the victim's list for each query
of its group, read through `Victim` (decision-based black box, every (query, text) pair
counted). Transformations, constraints and searches live in `robustness.attacks`; this module
only fixes the interface every attack shares, so that tasks, reports and defences can handle
any attack's output the same way:

- `Target`: a document to promote for a group of queries (one query is a group of one);
- `Victim`: ranks of candidate texts for every query of the group, in one engine call;
- `Edit`: the one record of a change (substitute / insert / delete at a character offset of
  the original text), which replays exactly (`apply_edits`);
- `AttackOutcome`: the adversarial text and its edits;
- `AttackSetup`: what an attack may use to prepare itself per victim (e.g. train a surrogate).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol, Sequence

import numpy as np

from robustness.text.edits import apply_edits  # re-exported: attacks replay their Edit records with it
from robustness.text.tokenize import split_tokens

if TYPE_CHECKING:
    from robustness.data.collection import Collection
    from robustness.engine import ScoringEngine

EditKind = Literal["substitute", "insert", "delete"]


@dataclass(frozen=True)
class Edit:
    """One change to the original text: at character offset `position` of the *original*,
    `old` (empty for an insertion) became `new` (empty for a deletion).

    Offsets refer to the original text, not to the text after earlier edits, so a list of
    edits is order-free and replays exactly (`apply_edits`). `ranks` is the victim's rank of
    the target, per query of its group, once the edit was kept (decision-based attacks), or
    None (static attacks, which never query the victim).
    """

    kind: EditKind
    position: int
    old: str
    new: str
    ranks: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        expected = {"substitute": bool(self.old) and bool(self.new), "insert": not self.old and bool(self.new), "delete": bool(self.old) and not self.new}
        if self.kind not in expected or not expected[self.kind]:
            raise ValueError(f"inconsistent edit {self}: a {self.kind} needs old={'' if self.kind == 'insert' else 'text'} and new={'' if self.kind == 'delete' else 'text'}")

    @classmethod
    def substitute(cls, position: int, old: str, new: str, ranks: Sequence[int] | None = None) -> Edit:
        return cls("substitute", position, old, new, None if ranks is None else tuple(int(r) for r in ranks))

    @classmethod
    def insert(cls, position: int, new: str, ranks: Sequence[int] | None = None) -> Edit:
        return cls("insert", position, "", new, None if ranks is None else tuple(int(r) for r in ranks))

    def as_record(self) -> dict[str, Any]:
        record: dict[str, Any] = {"kind": self.kind, "position": self.position, "old": self.old, "new": self.new}
        if self.ranks is not None:
            record["ranks"] = list(self.ranks)
        return record


@dataclass(frozen=True)
class Target:
    """A document to promote for a group of queries, and where the victim ranks it now.

    `query_ids`, `queries` and `old_ranks` align; a per-query attack gets a group of one and may
    read `query_id`, `query` and `old_rank` directly (they refuse a larger group, so an attack
    written for one query cannot silently attack only the first of a topic's queries).
    """

    doc_id: str
    text: str
    group: str
    query_ids: tuple[str, ...]
    queries: tuple[str, ...]
    old_ranks: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.query_ids or not len(self.query_ids) == len(self.queries) == len(self.old_ranks):
            raise ValueError("a target needs at least one query, with aligned ids, texts and ranks")

    @classmethod
    def single(cls, query_id: str, query: str, doc_id: str, text: str, old_rank: int, group: str) -> Target:
        return cls(doc_id, text, group, (query_id,), (query,), (int(old_rank),))

    def _only(self, values: tuple[Any, ...], plural: str) -> Any:
        if len(values) != 1:
            raise ValueError(f"target {self.doc_id} has a group of {len(values)} queries: use `{plural}`")
        return values[0]

    @property
    def query_id(self) -> str:
        return self._only(self.query_ids, "query_ids")

    @property
    def query(self) -> str:
        return self._only(self.queries, "queries")

    @property
    def old_rank(self) -> int:
        return self._only(self.old_ranks, "old_ranks")


class BudgetExhausted(Exception):
    """Raised by `Victim` when an attack asks for more victim queries than its budget."""


class Victim:
    """Decision-based black-box access: the attacker sees ranks, and every query is counted.

    `group_ranks(texts)` scores every (query of the group, text) pair in one engine call and
    returns, per text, where it would land in each query's list (the target's own entry
    removed; ties rank it below the others). Each (query, text) pair counts as one victim query.
    """

    def __init__(
        self, engine: ScoringEngine, queries: Sequence[str], other_scores: Sequence[np.ndarray], budget: int | None = None,
        parent: Victim | None = None,
    ):
        if len(queries) != len(other_scores) or not queries:
            raise ValueError("a victim needs at least one query and one score list per query")
        self._engine = engine
        self._queries = list(queries)
        self._sorted_others = [np.sort(np.asarray(s, dtype=np.float64)) for s in other_scores]
        self.budget = budget
        self.queries_used = 0
        self._parent = parent

    def only(self, index: int) -> Victim:
        """A one-query victim for query `index` of the group, whose queries also count in this
        one (and against its budget): how a per-query attack runs inside a group."""
        return Victim(self._engine, [self._queries[index]], [self._sorted_others[index]], parent=self)

    def _charge(self, cost: int) -> None:
        if self._parent is not None:
            self._parent._charge(cost)
        elif self.budget is not None and self.queries_used + cost > self.budget:
            raise BudgetExhausted(f"victim query budget {self.budget} exhausted")
        self.queries_used += cost

    @property
    def group_size(self) -> int:
        return len(self._queries)

    def group_ranks(self, texts: Sequence[str]) -> list[tuple[int, ...]]:
        """For each text, its rank (1 = top) in each query's list."""
        self._charge(len(texts) * len(self._queries))
        scores = self._engine.score([q for q in self._queries for _ in texts], [t for _ in self._queries for t in texts])
        n = len(texts)
        per_query = [rank_among(others, scores[i * n : (i + 1) * n]) for i, others in enumerate(self._sorted_others)]
        return [tuple(int(ranks[j]) for ranks in per_query) for j in range(n)]

    def ranks(self, texts: Sequence[str]) -> list[int]:
        """For each text, its rank in the list of a one-query group."""
        if len(self._queries) != 1:
            raise ValueError(f"this victim answers a group of {len(self._queries)} queries: use group_ranks")
        return [r[0] for r in self.group_ranks(texts)]


def edits_between(original: str, adversarial: str) -> list[Edit]:
    """The edits that turn `original` into `adversarial`, aligned token by token (difflib over
    `split_tokens`), offsets into `original`: the record of an attack that rewrote the text
    in several passes, each pass's own offsets referring to the previous pass's text."""
    import difflib

    before, after = split_tokens(original), split_tokens(adversarial)
    starts = np.concatenate([[0], np.cumsum([len(t) for t in before])]).astype(int).tolist()
    edits = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes():
        old, new = "".join(before[i1:i2]), "".join(after[j1:j2])
        if tag == "replace":
            edits.append(Edit.substitute(starts[i1], old, new))
        elif tag == "insert":
            edits.append(Edit.insert(starts[i1], new))
        elif tag == "delete":
            edits.append(Edit("delete", starts[i1], old, ""))
    return edits


def rank_among(sorted_others: np.ndarray, scores: np.ndarray) -> np.ndarray:
    """1-based ranks of documents scoring `scores` inserted one at a time into a list whose
    other scores are `sorted_others` (ascending); ties rank the inserted document below
    (the same rule as `robustness.metrics.rank_by_insertion`)."""
    return 1 + len(sorted_others) - np.searchsorted(sorted_others, np.asarray(scores, dtype=np.float64), side="left")


@dataclass
class AttackOutcome:
    """What an attack produced for one target: the new text and the edits that made it."""

    text: str
    edits: list[Edit] = field(default_factory=list)


@dataclass
class AttackSetup:
    """What an attack may use to prepare itself for one victim before attacking (optional hook).

    PRADA, for instance, trains a surrogate from the victim's rankings of training queries:
    it reaches the victim only through `engine` (black box) and reports how many victim
    queries the preparation cost.
    """

    ranker_name: str
    engine: ScoringEngine
    collection: Collection
    seed: int
    candidates_k: int
    progress: bool = True
    device: str = "auto"


class Attack(Protocol):
    """Transforms a target document; may query the victim (counted) to guide its search.

    An attack may also define `setup(AttackSetup) -> dict` (called once per victim before any
    target; the returned figures are reported, e.g. surrogate fidelity, setup victim queries).
    """

    name: str

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome: ...


def set_up_attack(attack: Attack, setup: AttackSetup) -> dict[str, Any]:
    """Run an attack's optional `setup` hook for one victim; its figures, or {} without one.
    Every caller that attacks a victim goes through here, so no attack is used unprepared."""
    hook = getattr(attack, "setup", None)
    return dict(hook(setup) or {}) if callable(hook) else {}

