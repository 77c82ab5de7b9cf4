"""Readers and writers for the file formats collections come in: BEIR JSONL/TSV and TREC.

Every reader fails with one line naming the file, the line number and what is wrong, so a
user with a malformed file knows exactly where to look.
"""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path
from typing import IO, Iterator, Mapping

from robustness.data.collection import Qrels
from robustness.errors import DataError
from robustness.metrics import ranked


def open_text(path: Path) -> IO[str]:
    """Open a text file, transparently gunzipping `*.gz`; a missing file is a DataError."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    return gzip.open(path, "rt", encoding="utf-8") if path.suffix == ".gz" else path.open(encoding="utf-8")


def find_file(folder: Path, stem: str) -> Path:
    """`stem` or `stem.gz` inside `folder` (BEIR folders ship either)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"file not found: {folder / stem} (nor {stem}.gz)")


def read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[dict]:
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
            if not isinstance(record, dict):
                raise DataError(f"{path} line {number}: expected a JSON object")
            missing = [key for key in required if key not in record]
            if missing:
                raise DataError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
            yield record


def read_beir_corpus(path: Path) -> dict[str, str]:
    """BEIR corpus.jsonl: `_id`, `text`, optional `title`; title and text joined by a space."""
    docs: dict[str, str] = {}
    for record in read_jsonl(path, ("_id", "text")):
        text = f"{record.get('title') or ''} {record['text'] or ''}".strip()
        docs[str(record["_id"])] = text
    if not docs:
        raise DataError(f"{path}: the corpus is empty")
    return docs


def read_beir_queries(path: Path) -> dict[str, str]:
    queries = {str(r["_id"]): str(r["text"]) for r in read_jsonl(path, ("_id", "text"))}
    if not queries:
        raise DataError(f"{path}: no queries")
    return queries


def _grade(path: Path, number: int, value: str) -> int:
    """An integer relevance grade ("2" or "2.0"); anything else names the line."""
    try:
        grade = float(value)
    except ValueError:
        raise DataError(f"{path} line {number}: relevance {value!r} is not a number") from None
    if not grade.is_integer():
        raise DataError(f"{path} line {number}: relevance {value!r} is not an integer grade")
    return int(grade)


def read_beir_qrels(path: Path) -> Qrels:
    """BEIR qrels TSV: header `query-id corpus-id score`, then one judgement per line."""
    qrels: Qrels = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] in ("query-id", "qid", "query_id"):
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                raise DataError(f"{path} line {number}: expected 3 tab-separated fields 'query-id corpus-id score', got {len(parts)}")
            qrels.setdefault(parts[0], {})[parts[1]] = _grade(path, number, parts[2])
    if not qrels:
        raise DataError(f"{path}: no judgements")
    return qrels


def read_trec_qrels(path: Path) -> Qrels:
    """TREC qrels: `qid iteration docid relevance` (whitespace separated)."""
    qrels: Qrels = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 4:
                raise DataError(f"{path} line {number}: expected 4 fields 'qid iter docid rel', got {len(parts)}")
            qrels.setdefault(parts[0], {})[parts[2]] = _grade(path, number, parts[3])
    if not qrels:
        raise DataError(f"{path}: no judgements")
    return qrels


_TOPIC = re.compile(r"<top>(.*?)</top>", re.S | re.I)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*(\S+)", re.I)
_TITLE = re.compile(r"<title>\s*(?:Topic:)?\s*(.*?)\s*(?=<|\Z)", re.S | re.I)


def read_trec_topics(path: Path) -> dict[str, str]:
    """TREC topics: SGML `<top><num>…<title>…</top>` (title used as the query) or `qid<TAB>text`."""
    with open_text(path) as handle:
        content = handle.read()
    topics: dict[str, str] = {}
    if "<top>" in content.lower():
        for block in _TOPIC.findall(content):
            num, title = _NUM.search(block), _TITLE.search(block)
            if not num or not title:
                raise DataError(f"{path}: a <top> block lacks <num> or <title>")
            topics[num.group(1)] = " ".join(title.group(1).split())
    else:
        for number, line in enumerate(content.splitlines(), 1):
            if not line.strip():
                continue
            qid, sep, text = line.partition("\t")
            if not sep or not text.strip():
                raise DataError(f"{path} line {number}: expected 'qid<TAB>query text'")
            topics[qid.strip()] = text.strip()
    if not topics:
        raise DataError(f"{path}: no topics")
    return topics


def read_trec_run(path: Path) -> dict[str, dict[str, float]]:
    """TREC run: `qid Q0 docid rank score tag`."""
    run: dict[str, dict[str, float]] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 6:
                raise DataError(f"{path} line {number}: expected 6 fields 'qid Q0 docid rank score tag'")
            try:
                run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
            except ValueError:
                raise DataError(f"{path} line {number}: score {parts[4]!r} is not a number") from None
    return run


def write_trec_run(path: Path, run: Mapping[str, Mapping[str, float]], tag: str) -> None:
    """Write a run sorted by descending score (ties by doc id, so the file is deterministic)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as handle:
        for qid in sorted(run):
            scores = run[qid]
            for rank, did in enumerate(ranked(scores), 1):
                handle.write(f"{qid} Q0 {did} {rank} {scores[did]:.6f} {tag}\n")
