"""The in-memory form of a test collection: documents, queries and graded judgements by split."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from robustness.errors import DataError

Qrels = dict[str, dict[str, int]]  # query id -> document id -> grade (higher = more relevant)


@dataclass
class Collection:
    """Documents (id -> text, title and body joined), queries (id -> text), qrels per split."""

    name: str
    docs: dict[str, str]
    queries: dict[str, str]
    qrels: dict[str, Qrels]
    source: str = ""
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
        """Queries and qrels of a split, keeping only queries with text and a relevant document."""
        if name not in self.qrels:
            have = ", ".join(sorted(self.qrels)) or "none"
            raise DataError(f"collection {self.name!r} has no {name!r} split (splits: {have})")
        qrels = {
            qid: judged
            for qid, judged in self.qrels[name].items()
            if qid in self.queries and any(grade > 0 for grade in judged.values())
        }
        if not qrels:
            raise DataError(f"collection {self.name!r} split {name!r} has no judged queries with a relevant document")
        return {qid: self.queries[qid] for qid in qrels}, qrels
