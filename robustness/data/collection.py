"""The in-memory form of a test collection: documents, queries and graded judgements by split.

What a collection warns about is collected in two places, both plain one-line strings:
- `Collection.warnings`: what loading found in the files (duplicate ids, empty documents,
  judgements naming unknown ids; the rules are in `robustness.data.formats`);
- `Collection.split_warnings(name)`: what `split(name)` drops (judged queries without text,
  judged queries without a relevant document). It is computed from the data, so it can be
  asked for before or after `split`, any number of times.
A run over one split reports `collection.warnings + collection.split_warnings(split)`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from robustness.errors import DataError

Qrels = dict[str, dict[str, int]]  # query id -> document id -> grade (higher = more relevant)

_WORD = re.compile(r"[^\W_]")  # a letter or a digit, in any script


def has_words(text: str) -> bool:
    """Whether `text` holds a letter or a digit; a text without one is "empty" (nothing to match)."""
    return _WORD.search(text) is not None


@dataclass
class Collection:
    """Documents (id -> text, title and body joined), queries (id -> text), qrels per split.

    `warnings` lists, one line each, what loading found wrong but tolerable in the files (a
    loader fills it; treat it as read-only: `load_collection` caches the collection).
    """

    name: str
    docs: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, Qrels]
    source: str = ""
    warnings: list[str] = field(default_factory=list, compare=False)
    _fingerprint: str = field(default="", repr=False)

    def fingerprint(self) -> str:
        """Content hash of documents, queries and judgements: recorded with every result."""
        if not self._fingerprint:
            digest = hashlib.sha256()
            for part in (self.docs, self.queries):
                for key in sorted(part):
                    digest.update(f"{key}\x01{part[key]}\x00".encode())
            for split in sorted(self.qrels):
                for qid in sorted(self.qrels[split]):
                    for did, grade in sorted(self.qrels[split][qid].items()):
                        digest.update(f"{split}\x01{qid}\x01{did}\x01{grade}\x00".encode())
            self._fingerprint = digest.hexdigest()[:16]
        return self._fingerprint

    def split(self, name: str) -> tuple[dict[str, str], Qrels]:
        """Queries and qrels of a split: the judged queries that are in `queries`, have a letter or
        digit in their text and at least one relevant (grade > 0) document.

        The others are dropped; `split_warnings(name)` counts them. Judged query ids missing
        from `queries` are counted once, at load, in `warnings`.
        """
        qrels, empty, unjudged = self._select(name)
        if not qrels:
            unknown = len(self.qrels[name]) - len(empty) - len(unjudged)
            raise DataError(
                f"collection {self.name!r} split {name!r} has no judged queries with a relevant document "
                f"({unknown} not in the queries, {len(empty)} with no letter or digit, "
                f"{len(unjudged)} without a relevant document)"
            )
        return {qid: self.queries[qid] for qid in qrels}, qrels

    def split_warnings(self, name: str) -> list[str]:
        """One line per kind of judged query that `split(name)` drops, with a count and the first id.

        Raises only for an unknown split (when `split(name)` fails because it drops every query,
        these lines say why)."""
        _, empty, unjudged = self._select(name)
        return [
            f"collection {self.name!r} split {name!r}: {len(ids)} judged query(ies) {why} dropped (first: {ids[0]!r})"
            for ids, why in ((empty, "with no letter or digit"), (unjudged, "without a relevant document"))
            if ids
        ]

    def _select(self, name: str) -> tuple[Qrels, list[str], list[str]]:
        """The split's usable qrels, and the judged query ids dropped for an empty text / no relevant document."""
        if name not in self.qrels:
            have = ", ".join(sorted(self.qrels)) or "none"
            raise DataError(f"collection {self.name!r} has no {name!r} split (splits: {have})")
        qrels: Qrels = {}
        empty: list[str] = []
        unjudged: list[str] = []
        for qid, grades in self.qrels[name].items():
            if qid not in self.queries:
                continue
            if not has_words(self.queries[qid]):
                empty.append(qid)
            elif not any(grade > 0 for grade in grades.values()):
                unjudged.append(qid)
            else:
                qrels[qid] = grades
        return qrels, empty, unjudged
