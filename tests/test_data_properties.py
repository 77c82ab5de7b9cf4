"""Property tests: whatever bytes a collection file holds, loading it either returns a valid
`Collection` or raises a one-line `RobustnessError` (a `DataError`) — never any other exception.

Each property replaces one file of a small valid collection (BEIR folder or TREC files) with
generated content: random bytes (plain or gzipped), random JSON values as JSONL lines, random
TSV rows. A returned collection must be usable downstream: ids are non-empty and whitespace-free
(TREC run files), every text encodes as UTF-8 (no lone surrogates), the fingerprint computes,
and every split either yields queries and qrels or fails with a DataError.
"""

from __future__ import annotations

import gzip
import json
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from robustness.data import Collection
from robustness.data.loaders import load_beir_folder, load_trec
from robustness.errors import DataError, RobustnessError

SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

CORPUS = [
    {"_id": "d1", "title": "Wing flutter", "text": "experimental investigation of a wing in a slipstream"},
    {"_id": "d2", "title": "", "text": "simple shear flow past a flat plate"},
    {"_id": "d3", "title": "Heat", "text": "heat conduction in composite slabs"},
]
QUERIES = [{"_id": "q1", "text": "wing slipstream"}, {"_id": "q2", "text": "composite slabs heat"}]
BEIR_QRELS = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td3\t2\nq2\td2\t0\n"
TREC_CORPUS = "".join(f"{d['_id']}\t{d['title']} {d['text']}\n" for d in CORPUS)
TREC_TOPICS = "q1\twing slipstream\nq2\tcomposite slabs heat\n"
TREC_QRELS = "q1 0 d1 1\nq2 0 d3 2\nq2 0 d2 0\n"


def _jsonl(records: list[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def _check(collection: Collection) -> None:
    """What the rest of the suite relies on when a load succeeds."""
    assert isinstance(collection, Collection)
    for table in (collection.docs, collection.queries):
        assert table
        for key, text in table.items():
            assert isinstance(key, str) and key and not any(c.isspace() for c in key)
            assert isinstance(text, str)
            text.encode("utf-8")
    for split, qrels in collection.qrels.items():
        for qid, judged in qrels.items():
            assert qid and not any(c.isspace() for c in qid)
            for did, grade in judged.items():
                assert did and not any(c.isspace() for c in did) and type(grade) is int
        try:
            queries, judged = collection.split(split)
        except DataError:
            pass
        else:
            assert set(queries) == set(judged) <= set(collection.queries)
        assert all(isinstance(w, str) and "\n" not in w for w in collection.split_warnings(split))
    assert len(collection.fingerprint()) == 16
    assert all(isinstance(w, str) and "\n" not in w for w in collection.warnings)


def _load_beir(replace: str, content: bytes) -> None:
    """Load a valid BEIR folder whose file `replace` (relative path) holds `content` instead."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "c"
        (folder / "qrels").mkdir(parents=True)
        files = {"corpus.jsonl": _jsonl(CORPUS), "queries.jsonl": _jsonl(QUERIES), "qrels/test.tsv": BEIR_QRELS.encode()}
        for name, data in files.items():
            if name != replace.removesuffix(".gz"):
                (folder / name).write_bytes(data)
        (folder / replace).write_bytes(content)
        try:
            collection = load_beir_folder(folder)
        except RobustnessError as exc:
            assert isinstance(exc, DataError) and "\n" not in str(exc)
        else:
            _check(collection)


def _load_trec(replace: str, content: bytes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        paths = {"corpus": Path(tmp) / "docs.tsv", "topics": Path(tmp) / "topics.txt", "qrels": Path(tmp) / "qrels.txt"}
        texts = {"corpus": TREC_CORPUS, "topics": TREC_TOPICS, "qrels": TREC_QRELS}
        for key, path in paths.items():
            path.write_text(texts[key], encoding="utf-8")
        if replace.endswith(".gz"):
            paths[replace[:-3]].unlink()
            paths[replace[:-3]] = paths[replace[:-3]].with_suffix(".gz")
        paths[replace.removesuffix(".gz")].write_bytes(content)
        try:
            collection = load_trec(",".join(f"{key}={path}" for key, path in paths.items()))
        except RobustnessError as exc:
            assert isinstance(exc, DataError) and "\n" not in str(exc)
        else:
            _check(collection)


# -- random bytes --------------------------------------------------------------------------------
# Mostly printable text with tabs, newlines, braces and quotes, sometimes arbitrary bytes.
_TEXTY = st.text(alphabet=st.sampled_from(list('qd123 \t\n\r{}":,[]_idtext\\u<>/') + ["\u00e9", "\u2028", "\x85", "\x00"]), max_size=80)
_BYTES = st.one_of(st.binary(max_size=120), _TEXTY.map(lambda t: t.encode("utf-8")))

BEIR_FILES = ["corpus.jsonl", "queries.jsonl", "qrels/test.tsv"]
TREC_FILES = ["corpus", "topics", "qrels"]
_TARGETS = st.sampled_from([(_load_beir, f) for f in BEIR_FILES] + [(_load_trec, f) for f in TREC_FILES])


@settings(SETTINGS, max_examples=240)
@given(target=_TARGETS, content=_BYTES, packed=st.booleans())
def test_file_of_random_bytes(target, content, packed) -> None:
    load, file = target
    if packed:
        load(file + ".gz", gzip.compress(content))
    else:
        load(file, content)


@SETTINGS
@given(target=_TARGETS, content=st.binary(max_size=60))
def test_gz_file_that_may_not_be_gzip(target, content) -> None:
    load, file = target
    load(file + ".gz", content)


@SETTINGS
@given(content=st.binary(max_size=200).map(lambda b: b"<top>\n<num> " + b + b"\n<title> x\n</top>\n"))
def test_sgml_topics_of_random_bytes(content) -> None:
    _load_trec("topics", content)


# -- random JSON values as JSONL lines -----------------------------------------------------------
_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
    st.text(max_size=12), st.sampled_from(["d1", "q1", "", " ", "a b", "\ud800", "x\udc00y", "\U0001F600"]),
)
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=8)
_WELL_FORMED = st.fixed_dictionaries(
    {
        "_id": st.one_of(st.sampled_from(["d1", "d2", "d3", "d4", "q1", "q2", "q3"]), st.integers(0, 3)),
        "text": st.one_of(st.none(), st.text(max_size=10), st.sampled_from(["", " ", "?!", "\ud800", "x\udc00y", "wing"])),
    },
    optional={"title": st.one_of(st.none(), st.text(max_size=6)), "metadata": _JSON},
)
_RECORD = st.one_of(
    _JSON,
    _WELL_FORMED,
    _WELL_FORMED,
    _WELL_FORMED,
    st.fixed_dictionaries({"_id": _JSON, "text": _JSON}, optional={"title": _JSON, "metadata": _JSON}),
    st.fixed_dictionaries({"_id": st.sampled_from(["d1", "d2", "d3", "q1", "q2", "7"]), "text": _SCALARS},
                          optional={"title": _SCALARS}),
)


def _json_line(value) -> str:
    # ensure_ascii writes a lone surrogate as its \udXXX escape, as a real JSON producer would.
    return json.dumps(value, ensure_ascii=True)


@SETTINGS
@given(file=st.sampled_from(["corpus.jsonl", "queries.jsonl"]), records=st.lists(_RECORD, max_size=6), keep=st.booleans())
def test_jsonl_of_random_json_values(file, records, keep) -> None:
    base = CORPUS if file == "corpus.jsonl" else QUERIES
    lines = [_json_line(r) for r in (base if keep else [])] + [_json_line(r) for r in records]
    _load_beir(file, "".join(line + "\n" for line in lines).encode("utf-8"))


# -- random TSV rows -------------------------------------------------------------------------------
_CELL = st.one_of(
    st.sampled_from(["q1", "q2", "d1", "d2", "d3", "1", "0", "2.0", "-1", "2.5", "nan", "inf", "", " ", "query-id", "x y"]),
    st.text(alphabet=st.characters(exclude_categories=("Cs",), exclude_characters="\n\r\t"), max_size=8),
)
_QID, _DID = st.sampled_from(["q1", "q2", "q3", "d1"]), st.sampled_from(["d1", "d2", "d3", "d4", "q1"])
_GRADE = st.sampled_from(["0", "1", "2", "-1", "3.0", "1.5", "x"])
_TEXT = st.sampled_from(["wing flutter", "", "  ", "?!", "the of", "heat \u00e9t\u00e9", "a\u2028b", "x\x85y"])
# Rows of the right shape (ids and grades from small pools, so duplicates and unknown ids occur)
# mixed with rows of any shape and content.
_ROWS = {
    "qrels/test.tsv": st.tuples(_QID, _DID, _GRADE).map(list),
    "qrels": st.tuples(_QID, st.just("0"), _DID, _GRADE).map(list),
    "topics": st.tuples(_QID, _TEXT).map(list),
    "corpus": st.tuples(_DID, _TEXT).map(list),
}
_ANY_ROW = st.lists(_CELL, max_size=5)


def _tsv(rows: list[list[str]], sep: str = "\t") -> bytes:
    return "".join(sep.join(row) + "\n" for row in rows).encode("utf-8")


def _rows(file: str) -> st.SearchStrategy[list[list[str]]]:
    return st.lists(st.one_of(_ROWS[file], _ROWS[file], _ANY_ROW), max_size=8)


@SETTINGS
@given(data=st.data(), header=st.booleans(), keep=st.booleans())
def test_beir_qrels_of_random_rows(data, header, keep) -> None:
    rows = data.draw(_rows("qrels/test.tsv"))
    base = BEIR_QRELS.encode() if keep else (b"query-id\tcorpus-id\tscore\n" if header else b"")
    _load_beir("qrels/test.tsv", base + _tsv(rows))


@SETTINGS
@given(data=st.data(), file=st.sampled_from(TREC_FILES), keep=st.booleans())
def test_trec_files_of_random_rows(data, file, keep) -> None:
    rows = data.draw(_rows(file))
    base = {"corpus": TREC_CORPUS, "topics": TREC_TOPICS, "qrels": TREC_QRELS}[file] if keep else ""
    _load_trec(file, base.encode() + _tsv(rows, sep=" " if file == "qrels" else "\t"))
