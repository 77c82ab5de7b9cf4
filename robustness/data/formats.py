"""Readers and writers for the file formats collections come in: BEIR JSONL/TSV and TREC.

Every reader fails with one line naming the file, the line number and what is wrong, so a
user with a malformed file knows exactly where to look. What is wrong but tolerable is not
silent either: a reader given a `warnings` list appends one counted line per kind of problem
and file ("N ... (first: 'x')"); the loaders always pass one, and keep it as
`Collection.warnings`.

The rules, the same for every loader:

Errors (`DataError`):
- a missing or unreadable file; a `.gz` file that is not gzip, or is truncated;
- bytes that are not UTF-8: "<file> line N: not valid UTF-8 (byte 0xff at column 5: invalid
  start byte)". A UTF-8 byte-order mark at the start of a file is allowed and skipped;
- a malformed line: invalid JSON, a JSON line that is not an object, a missing field, a field
  of the wrong kind (`_id` must be a string or an integer; `text` and `title` a string or null,
  null meaning empty), a JSON string holding a lone surrogate such as "\\ud800" (not Unicode:
  no file, hash or tokenizer could encode it later), the wrong number of fields, a grade that
  is not an integer;
- an empty id, or one containing whitespace: ids are written into whitespace-separated TREC
  run files, which would be misread;
- the same document or query id twice with different texts: the file is ambiguous (often two
  collections merged with colliding ids), and which text was judged cannot be known. Data
  from ir_datasets, which the user cannot edit, gets a counted warning instead (first copy kept);
- a file without a single record; two qrels files for one split; a qrels file in which no
  judgement names both a known query and a known document (the wrong file, or swapped columns).

Counted warnings (`Collection.warnings`, one line per kind and file):
- the same id twice with the same text: the first copy is kept;
- the same (query, document) judged twice: the first line's grade is kept, whether or not the
  grades differ (the warning counts those that differ);
- empty documents (no letter or digit, see `has_words`): kept, as legitimate documents that no
  ranker can match;
- judgements naming a query id that is not in the queries: ignored (no text to rank for);
- judgements naming a document id that is not in the corpus: kept, so a relevant one counts as
  missed (as trec_eval and ranx count it).
Judged queries without a letter or digit, or without a relevant document, are dropped per
split and counted there: see `Collection.split_warnings`.
"""

from __future__ import annotations

import gzip
import json
import re
import zlib
from pathlib import Path
from typing import IO, Callable, Hashable, Iterable, Iterator, Mapping, TypeVar

from robustness.data.collection import Qrels, has_words
from robustness.errors import DataError
from robustness.metrics import ranked

T = TypeVar("T")
Records = Callable[[], Iterable[tuple[str, Hashable, T]]]  # () -> (where, key, item) per record

_SURROGATE = re.compile("[\ud800-\udfff]")
_SPACE = re.compile(r"\s")


def open_text(path: Path) -> IO[str]:
    """Open a UTF-8 text file (byte-order mark skipped), gunzipping `*.gz`; a missing file is a DataError."""
    if not path.is_file():
        raise DataError(f"file not found: {path}")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        return opener(path, "rt", encoding="utf-8-sig")
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def read_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number from 1, line with its newline) of a text file; bad bytes or gzip data are a DataError."""
    handle = open_text(path)
    try:
        with handle:
            yield from enumerate(handle, 1)
    except UnicodeDecodeError:
        raise _utf8_error(path) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise _read_error(path, exc) from None


def _read_error(path: Path, exc: BaseException) -> DataError:
    if path.suffix == ".gz" and isinstance(exc, (gzip.BadGzipFile, EOFError, zlib.error)):
        reason = "it is truncated" if isinstance(exc, EOFError) else " ".join(str(exc).split())
        return DataError(f"{path}: not a valid gzip file ({reason})")
    return DataError(f"{path}: cannot be read ({getattr(exc, 'strerror', None) or ' '.join(str(exc).split())})")


def _utf8_error(path: Path) -> DataError:
    """The first line that is not UTF-8 (found again in binary: the text decoder only knows its chunk)."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            for number, raw in enumerate(handle, 1):
                try:
                    raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    return DataError(
                        f"{path} line {number}: not valid UTF-8 "
                        f"(byte 0x{raw[exc.start]:02x} at column {exc.start + 1}: {exc.reason})"
                    )
    except (OSError, EOFError, zlib.error) as exc:
        return _read_error(path, exc)
    return DataError(f"{path}: not valid UTF-8")


def _lone_surrogate(text: str) -> str | None:
    """The first lone surrogate in `text` (from a JSON escape such as "\\ud800"), if any."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")  # far faster than a regex scan; fails exactly on surrogates
    except UnicodeEncodeError:
        found = _SURROGATE.search(text)
        return found.group() if found else None
    return None


def find_file(folder: Path, stem: str) -> Path:
    """`stem` or `stem.gz` inside `folder` (BEIR folders ship either)."""
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    raise DataError(f"file not found: {folder / stem} (nor {stem}.gz)")


# -- ids, duplicates, records ---------------------------------------------------------------------
def check_id(source: object, where: str, value: str, what: str) -> str:
    """`value` if it is usable as a `what` ("document", "query") id, else a DataError at `where`."""
    if not value:
        raise DataError(f"{source} {where}: empty {what} id")
    if _SPACE.search(value):
        raise DataError(f"{source} {where}: {what} id {value!r} contains whitespace (ids go into whitespace-separated TREC run files)")
    if _lone_surrogate(value):
        raise DataError(f"{source} {where}: {what} id {value!r} holds a lone surrogate, which is not Unicode")
    return value


def collect_unique(
    source: object, what: str, value: str, records: Records, warnings: list[str] | None, *, strict: bool = True
) -> dict:
    """key -> item from `records()`, the first copy of a repeated key kept and the repeats counted
    in one warning line. A repeat with another item is a DataError naming both places when
    `strict`, else counted too. `what` names a key ("document id"), `value` an item ("text")."""
    items: dict = {}
    repeats = differing = 0
    first = ""
    for where, key, item in records():
        if key not in items:
            items[key] = item
            continue
        if items[key] != item:
            if strict:
                earlier = next(w for w, k, _ in records() if k == key)
                raise DataError(f"{source} {where}: {what} {key!r} appears again with a different {value} (first on {earlier}); ids must be unique")
            differing += 1
        repeats += 1
        if repeats == 1:
            label = f"query {key[0]!r} document {key[1]!r}" if isinstance(key, tuple) else repr(key)
            first = f"{label}, {where}"
    if repeats and warnings is not None:
        other = f", {differing} with another {value}" if differing else ""
        kept = "the first line's grade is kept" if value == "grade" else "the first copy is kept"
        warnings.append(f"{repeats} duplicate {what}(s) in {source} (first: {first}){other}; {kept}")
    return items


def collect_corpus(source: object, records: Records[str], warnings: list[str] | None, *, strict: bool = True) -> dict[str, str]:
    """Documents from `(where, doc id, text)` records: unique ids, at least one, empty ones counted."""
    docs = collect_unique(source, "document id", "text", records, warnings, strict=strict)
    if not docs:
        raise DataError(f"{source}: the corpus is empty")
    empty = [did for did, text in docs.items() if not has_words(text)]
    if empty and warnings is not None:
        warnings.append(
            f"{len(empty)} empty document(s) in {source} (first: {empty[0]!r}): no letter or digit; "
            "they are kept (no ranker can match them)"
        )
    return docs


def collect_qrels(source: object, records: Records[int], warnings: list[str] | None) -> Qrels:
    """Qrels from `(where, (query id, doc id), grade)` records; a repeated pair keeps its first grade."""
    pairs = collect_unique(source, "judgement", "grade", records, warnings, strict=False)
    if not pairs:
        raise DataError(f"{source}: no judgements")
    qrels: Qrels = {}
    for (qid, did), grade in pairs.items():
        qrels.setdefault(qid, {})[did] = grade
    return qrels


# -- BEIR -------------------------------------------------------------------------------------------
_KIND = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}


def read_jsonl(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict]]:
    """(line number, object) per non-blank line; each must be a JSON object with the `required` keys."""
    for number, line in read_lines(path):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path} line {number}: invalid JSON ({exc.msg})") from None
        except RecursionError:
            raise DataError(f"{path} line {number}: invalid JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise DataError(f"{path} line {number}: expected a JSON object")
        missing = [key for key in required if key not in record]
        if missing:
            raise DataError(f"{path} line {number}: missing field(s) {', '.join(missing)}")
        yield number, record


def _json_id(path: Path, number: int, record: dict, what: str) -> str:
    value = record["_id"]
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise DataError(f"{path} line {number}: field '_id' must be a string or an integer, not {_KIND.get(type(value), 'null')}")
    return check_id(path, f"line {number}", str(value), what)


def _json_text(path: Path, number: int, record: dict, key: str) -> str:
    value = record.get(key)
    if type(value) is str and value.isascii():  # the common case, checked first
        return value
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(f"{path} line {number}: field {key!r} must be a string or null, not {_KIND[type(value)]}")
    bad = _lone_surrogate(value)
    if bad:
        raise DataError(f"{path} line {number}: field {key!r} holds a lone surrogate ({bad!r}), which is not Unicode")
    return value


def read_beir_corpus(path: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """BEIR corpus.jsonl: `_id`, `text`, optional `title`; title and text joined by a space."""

    def records() -> Iterator[tuple[str, str, str]]:
        for number, record in read_jsonl(path, ("_id", "text")):
            text = f"{_json_text(path, number, record, 'title')} {_json_text(path, number, record, 'text')}".strip()
            yield f"line {number}", _json_id(path, number, record, "document"), text

    return collect_corpus(path, records, warnings)


def read_beir_queries(path: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """BEIR queries.jsonl: `_id`, `text` (null text is an empty query, dropped by `Collection.split`)."""

    def records() -> Iterator[tuple[str, str, str]]:
        for number, record in read_jsonl(path, ("_id", "text")):
            yield f"line {number}", _json_id(path, number, record, "query"), _json_text(path, number, record, "text")

    queries = collect_unique(path, "query id", "text", records, warnings)
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


def read_beir_qrels(path: Path, warnings: list[str] | None = None) -> Qrels:
    """BEIR qrels TSV: header `query-id corpus-id score`, then one judgement per line."""

    def records() -> Iterator[tuple[str, tuple[str, str], int]]:
        for number, line in read_lines(path):
            parts = line.rstrip("\n").split("\t")
            if number == 1 and parts[0] in ("query-id", "qid", "query_id"):
                continue
            if not line.strip():
                continue
            if len(parts) != 3:
                raise DataError(f"{path} line {number}: expected 3 tab-separated fields 'query-id corpus-id score', got {len(parts)}")
            where = f"line {number}"
            pair = (check_id(path, where, parts[0], "query"), check_id(path, where, parts[1], "document"))
            yield where, pair, _grade(path, number, parts[2])

    return collect_qrels(path, records, warnings)


# -- TREC -------------------------------------------------------------------------------------------
def read_tsv_corpus(path: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """A `docid<TAB>text` corpus, one document a line; blank lines are skipped."""

    def records() -> Iterator[tuple[str, str, str]]:
        for number, line in read_lines(path):
            if not line.strip():
                continue
            docid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise DataError(f"{path} line {number}: expected 'docid<TAB>text'")
            yield f"line {number}", check_id(path, f"line {number}", docid, "document"), text

    return collect_corpus(path, records, warnings)


def _whitespace_rows(path: Path, fields: str) -> Iterator[tuple[int, list[str]]]:
    """(line number, fields) of each non-blank line of a whitespace-separated file with `fields`."""
    width = len(fields.split())
    for number, line in read_lines(path):
        parts = line.split()
        if parts and len(parts) != width:
            raise DataError(f"{path} line {number}: expected {width} fields '{fields}', got {len(parts)}")
        if parts:
            yield number, parts


def read_trec_qrels(path: Path, warnings: list[str] | None = None) -> Qrels:
    """TREC qrels: `qid iteration docid relevance` (whitespace separated)."""

    def records() -> Iterator[tuple[str, tuple[str, str], int]]:
        for number, parts in _whitespace_rows(path, "qid iter docid rel"):
            yield f"line {number}", (parts[0], parts[2]), _grade(path, number, parts[3])

    return collect_qrels(path, records, warnings)


_TOPIC = re.compile(r"<top>(.*?)</top>", re.S | re.I)
_NUM = re.compile(r"<num>\s*(?:Number:)?\s*([^\s<]+)", re.I)
_TITLE = re.compile(r"<title>\s*(?:Topic:)?\s*(.*?)\s*(?=<|\Z)", re.S | re.I)


def read_trec_topics(path: Path, warnings: list[str] | None = None) -> dict[str, str]:
    """TREC topics: SGML `<top><num>…<title>…</top>` (title used as the query) or `qid<TAB>text`."""
    lines = [line for _, line in read_lines(path)]
    content = "".join(lines)

    def sgml() -> Iterator[tuple[str, str, str]]:
        for number, block in enumerate(_TOPIC.findall(content), 1):
            num, title = _NUM.search(block), _TITLE.search(block)
            if not num or not title:
                raise DataError(f"{path}: <top> block {number} lacks <num> or <title>")
            yield f"<top> block {number}", num.group(1), " ".join(title.group(1).split())

    def tsv() -> Iterator[tuple[str, str, str]]:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            qid, sep, text = line.partition("\t")
            if not sep or not text.strip():
                raise DataError(f"{path} line {number}: expected 'qid<TAB>query text'")
            yield f"line {number}", check_id(path, f"line {number}", qid.strip(), "query"), text.strip()

    topics = collect_unique(path, "query id", "text", sgml if "<top>" in content.lower() else tsv, warnings)
    if not topics:
        raise DataError(f"{path}: no topics")
    return topics


def read_trec_run(path: Path) -> dict[str, dict[str, float]]:
    """TREC run: `qid Q0 docid rank score tag`."""
    run: dict[str, dict[str, float]] = {}
    for number, parts in _whitespace_rows(path, "qid Q0 docid rank score tag"):
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
