"""Collections: the built-in data, the BEIR / TREC / ir_datasets loaders and their one-line errors."""

from __future__ import annotations

import gzip
import json
import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from robustness.data import Collection, load_collection
from robustness.data.formats import (
    read_beir_qrels,
    read_trec_qrels,
    read_trec_run,
    read_trec_topics,
    write_trec_run,
)
from robustness.data.loaders import BUILTIN_DIR, load_beir_folder, load_trec
from robustness.errors import DataError


# -- built-in collections ------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, n_docs, n_queries, splits",
    [
        ("scifact", 5183, 1109, {"test": 300, "train": 809}),
        ("vaswani", 11429, 93, {"test": 93}),
        ("cranfield", 1400, 225, {"test": 225}),
    ],
)
def test_builtin_collection_sizes(name, n_docs, n_queries, splits) -> None:
    collection = load_collection(name)
    assert collection.name == name
    assert collection.source == f"builtin:{name}"
    assert len(collection.docs) == n_docs
    assert len(collection.queries) == n_queries
    assert set(collection.qrels) == set(splits)
    for split, expected in splits.items():
        queries, qrels = collection.split(split)
        assert len(queries) == expected
        assert set(queries) == set(qrels)
        # Every judged id resolves (PROVENANCE.md promises it) and each query has a relevant doc.
        for qid, judged in qrels.items():
            assert qid in collection.queries
            assert set(judged) <= set(collection.docs)
            assert any(grade > 0 for grade in judged.values())


def test_builtin_splits_are_disjoint_and_grades_documented() -> None:
    scifact = load_collection("scifact")
    assert not set(scifact.qrels["test"]) & set(scifact.qrels["train"])
    grades = {g for judged in load_collection("cranfield").qrels["test"].values() for g in judged.values()}
    assert grades == {1, 2, 3, 4}  # graded 1..4, higher = more relevant
    vaswani = load_collection("vaswani")
    assert all(q == q.lower() for q in vaswani.queries.values())


def test_title_and_text_are_joined(cranfield) -> None:
    with gzip.open(BUILTIN_DIR / "cranfield" / "corpus.jsonl.gz", "rt", encoding="utf-8") as handle:
        first = json.loads(handle.readline())
    assert cranfield.docs[first["_id"]] == f"{first['title']} {first['text']}".strip()


def test_fingerprint_is_content_based(cranfield) -> None:
    copy = Collection(name="other-name", docs=dict(cranfield.docs), queries=dict(cranfield.queries), qrels={"test": dict(cranfield.qrels["test"])})
    assert copy.fingerprint() == cranfield.fingerprint()
    docs = dict(cranfield.docs)
    first = sorted(docs)[0]
    docs[first] += " changed"
    changed = Collection(name="cranfield", docs=docs, queries=dict(cranfield.queries), qrels={"test": dict(cranfield.qrels["test"])})
    assert changed.fingerprint() != cranfield.fingerprint()


def test_unknown_dataset_name() -> None:
    with pytest.raises(DataError) as info:
        load_collection("no-such-dataset-xyz")
    message = str(info.value)
    assert "'no-such-dataset-xyz'" in message and "scifact" in message and "\n" not in message


def test_missing_split_names_the_splits(cranfield) -> None:
    with pytest.raises(DataError, match=r"has no 'train' split \(splits: test\)"):
        cranfield.split("train")


# -- BEIR folders ----------------------------------------------------------------------------
def test_beir_folder_copy_loads_like_the_builtin(tmp_path, cranfield) -> None:
    folder = tmp_path / "cranfield-copy"
    shutil.copytree(BUILTIN_DIR / "cranfield", folder)
    for reference in (f"beir:{folder}", str(folder)):
        copy = load_collection(reference)
        assert copy.name == "cranfield-copy"
        assert copy.docs == cranfield.docs
        assert copy.queries == cranfield.queries
        assert copy.qrels == cranfield.qrels
        assert copy.fingerprint() == cranfield.fingerprint()


def _real_lines(name: str, file: str, n: int) -> list[str]:
    with gzip.open(BUILTIN_DIR / name / file, "rt", encoding="utf-8") as handle:
        return [next(handle) for _ in range(n)]


@pytest.fixture
def beir_folder(tmp_path) -> Path:
    """A small, valid, uncompressed BEIR folder made of real Cranfield lines."""
    folder = tmp_path / "mini"
    (folder / "qrels").mkdir(parents=True)
    corpus = _real_lines("cranfield", "corpus.jsonl.gz", 30)
    (folder / "corpus.jsonl").write_text("".join(corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(_real_lines("cranfield", "queries.jsonl.gz", 3)), encoding="utf-8")
    doc_ids = [json.loads(line)["_id"] for line in corpus]
    rows = ["query-id\tcorpus-id\tscore", f"1\t{doc_ids[0]}\t2", f"1\t{doc_ids[1]}\t0", f"2\t{doc_ids[2]}\t1", f"3\t{doc_ids[3]}\t0"]
    (folder / "qrels" / "test.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_beir_folder_small(beir_folder, cranfield) -> None:
    collection = load_beir_folder(beir_folder)
    assert len(collection.docs) == 30 and len(collection.queries) == 3
    assert all(collection.docs[d] == cranfield.docs[d] for d in collection.docs)
    queries, qrels = collection.split("test")
    assert sorted(queries) == ["1", "2"]  # query 3 has no relevant document
    assert qrels["1"] == {"1": 2, "2": 0}


def test_split_with_no_judged_queries(beir_folder) -> None:
    path = beir_folder / "qrels" / "dev.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n1\t1\t0\n3\t2\t0\n99\t1\t1\n", encoding="utf-8")
    collection = load_beir_folder(beir_folder)
    with pytest.raises(DataError, match=r"split 'dev' has no judged queries"):
        collection.split("dev")


def _assert_one_line(info: pytest.ExceptionInfo, *fragments: str) -> None:
    message = str(info.value)
    assert "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)


def test_missing_corpus(beir_folder) -> None:
    (beir_folder / "corpus.jsonl").unlink()
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, "file not found", str(beir_folder / "corpus.jsonl"))


def test_missing_folder(tmp_path) -> None:
    with pytest.raises(DataError) as info:
        load_beir_folder(tmp_path / "nowhere")
    _assert_one_line(info, "dataset folder not found", str(tmp_path / "nowhere"))


def test_folder_without_qrels(beir_folder) -> None:
    shutil.rmtree(beir_folder / "qrels")
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, "no qrels", str(beir_folder))


def _replace_line(path: Path, number: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[number - 1] = text + "\n"
    path.write_text("".join(lines), encoding="utf-8")


def test_invalid_json_line(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _replace_line(corpus, 7, '{"_id": "7", "text": "unterminated')
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "line 7", "invalid JSON")


def test_json_line_that_is_not_an_object(beir_folder) -> None:
    queries = beir_folder / "queries.jsonl"
    _replace_line(queries, 2, '["2", "a list"]')
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(queries), "line 2", "JSON object")


def test_missing_id_field(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _replace_line(corpus, 4, json.dumps({"title": "no id", "text": "a document without its _id"}))
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "line 4", "_id")


def test_qrels_with_two_columns(beir_folder) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _replace_line(qrels, 3, "1\t2")
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(qrels), "line 3", "expected 3", "got 2")


def test_qrels_with_non_numeric_grade(beir_folder) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _replace_line(qrels, 4, "2\t3\trelevant")
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(qrels), "line 4", "'relevant'", "not a number")


def test_qrels_with_infinite_grade(beir_folder) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _replace_line(qrels, 2, "1\t1\tinf")
    with pytest.raises(DataError, match="line 2"):
        read_beir_qrels(qrels)


def test_empty_corpus(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    corpus.write_text("\n\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "empty")


def test_gzipped_files_are_read(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    with gzip.open(beir_folder / "corpus.jsonl.gz", "wt", encoding="utf-8") as handle:
        handle.write(corpus.read_text(encoding="utf-8"))
    plain = load_beir_folder(beir_folder).docs
    corpus.unlink()
    assert load_beir_folder(beir_folder).docs == plain


# -- TREC files --------------------------------------------------------------------------------
SGML_TOPICS = """<top>
<num> Number: 301
<title> International Organized Crime

<desc> Description:
Identify organizations that participate in international criminal activity.
</top>

<top>
<num> 302
<title> Topic: Poliomyelitis and
   Post-Polio
<desc> Is the disease of Poliomyelitis (polio) under control in the world?
</top>
"""


def test_trec_topics_sgml(tmp_path) -> None:
    path = tmp_path / "topics.txt"
    path.write_text(SGML_TOPICS, encoding="utf-8")
    assert read_trec_topics(path) == {"301": "International Organized Crime", "302": "Poliomyelitis and Post-Polio"}


def test_trec_topics_sgml_without_title(tmp_path) -> None:
    path = tmp_path / "topics.txt"
    path.write_text("<top>\n<num> Number: 7\n<desc> only a description\n</top>\n", encoding="utf-8")
    with pytest.raises(DataError, match="lacks <num> or <title>"):
        read_trec_topics(path)


def test_trec_topics_tsv(tmp_path, cranfield) -> None:
    ids = ["1", "2", "4"]
    path = tmp_path / "topics.tsv"
    path.write_text("".join(f"{q}\t{cranfield.queries[q]}\n" for q in ids) + "\n", encoding="utf-8")
    assert read_trec_topics(path) == {q: cranfield.queries[q].strip() for q in ids}
    path.write_text("1\tfine\nno tab on this line\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_trec_topics(path)
    _assert_one_line(info, str(path), "line 2")


def test_trec_qrels(tmp_path) -> None:
    path = tmp_path / "qrels.txt"
    path.write_text("1 0 184 3\n1 0 29 1\n\n2 0 12 0\n", encoding="utf-8")
    assert read_trec_qrels(path) == {"1": {"184": 3, "29": 1}, "2": {"12": 0}}
    path.write_text("1 0 184 3\n1 0 29\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_trec_qrels(path)
    _assert_one_line(info, str(path), "line 2", "expected 4")


def test_trec_run_round_trip(tmp_path) -> None:
    run = {"q2": {"d1": 0.5, "d2": 1.25, "d3": -3.0}, "q1": {"b": 2.0, "a": 2.0, "c": 7.123456}}
    path = tmp_path / "runs" / "my.trec"
    write_trec_run(path, run, tag="my")
    lines = [line.split() for line in path.read_text(encoding="utf-8").splitlines()]
    # Sorted by query, then score descending, ties by doc id; ranks count from 1.
    assert [(l[0], l[2], l[3]) for l in lines] == [
        ("q1", "c", "1"), ("q1", "a", "2"), ("q1", "b", "3"),
        ("q2", "d2", "1"), ("q2", "d1", "2"), ("q2", "d3", "3"),
    ]
    assert all(l[1] == "Q0" and l[5] == "my" for l in lines)
    back = read_trec_run(path)
    assert set(back) == set(run)
    for qid in run:
        assert set(back[qid]) == set(run[qid])
        for did, score in run[qid].items():
            assert back[qid][did] == pytest.approx(score, abs=1e-6)


def test_trec_run_malformed(tmp_path) -> None:
    path = tmp_path / "bad.trec"
    path.write_text("q1 Q0 d1 1 0.5 tag\nq1 Q0 d2 2 high tag\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        read_trec_run(path)
    _assert_one_line(info, str(path), "line 2", "'high'")


def test_trec_collection_reference(tmp_path, cranfield) -> None:
    doc_ids = sorted(cranfield.docs, key=int)[:40]
    corpus = tmp_path / "docs.tsv"
    corpus.write_text("".join(f"{d}\t{cranfield.docs[d]}\n" for d in doc_ids), encoding="utf-8")
    topics = tmp_path / "topics.tsv"
    topics.write_text(f"1\t{cranfield.queries['1']}\n2\t{cranfield.queries['2']}\n", encoding="utf-8")
    qrels = tmp_path / "qrels.txt"
    qrels.write_text(f"1 0 {doc_ids[0]} 2\n1 0 {doc_ids[1]} 0\n2 0 {doc_ids[2]} 0\n", encoding="utf-8")
    collection = load_collection(f"trec:corpus={corpus},topics={topics},qrels={qrels},split=dev")
    assert collection.docs == {d: cranfield.docs[d] for d in doc_ids}
    assert set(collection.qrels) == {"dev"}
    queries, judged = collection.split("dev")
    assert list(queries) == ["1"] and judged == {"1": {doc_ids[0]: 2, doc_ids[1]: 0}}
    with pytest.raises(DataError, match="lacks qrels"):
        load_collection(f"trec:corpus={corpus},topics={topics}")


# -- ir_datasets ---------------------------------------------------------------------------------
def test_irds_offline_is_a_one_line_data_error(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    asked: list[str] = []

    def offline(dataset_id):
        asked.append(dataset_id)
        raise ConnectionError("HTTPSConnectionPool(host='msmarco.blob.core.windows.net'): Max retries exceeded\nsecond line")

    monkeypatch.setattr(ir_datasets, "load", offline)
    with pytest.raises(DataError) as info:
        load_collection("irds:msmarco-passage/trec-dl-2019/judged")
    assert asked == ["msmarco-passage/trec-dl-2019/judged"]
    _assert_one_line(info, "irds:msmarco-passage/trec-dl-2019/judged", "network", "cache", "Max retries exceeded")


def test_irds_unknown_id() -> None:
    pytest.importorskip("ir_datasets")
    with pytest.raises(DataError) as info:
        load_collection("irds:no-such-collection-xyz/test")
    _assert_one_line(info, "unknown ir_datasets id", "'no-such-collection-xyz/test'")


# -- bad bytes: every encoding problem is one line naming the file and the line ---------------------
def _read_bytes(path: Path) -> bytes:
    return gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()


def _write_bytes(path: Path, data: bytes) -> None:
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)


def _spoil_line(path: Path, number: int, bad: bytes = b"\xff\xfe") -> None:
    """Insert bytes that are not UTF-8 into line `number` of a (possibly gzipped) file."""
    lines = _read_bytes(path).split(b"\n")
    lines[number - 1] = lines[number - 1][:4] + bad + lines[number - 1][4:]
    _write_bytes(path, b"\n".join(lines))


def _gzip_in_place(path: Path) -> Path:
    packed = path.with_name(path.name + ".gz")
    packed.write_bytes(gzip.compress(path.read_bytes()))
    path.unlink()
    return packed


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("file, number", [("corpus.jsonl", 5), ("queries.jsonl", 2), ("qrels/test.tsv", 3)])
def test_beir_file_that_is_not_utf8(beir_folder, file, number, gz) -> None:
    path = beir_folder / file
    if gz:
        path = _gzip_in_place(path)
    _spoil_line(path, number)
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(path), f"line {number}:", "not valid UTF-8", "0xff")


@pytest.fixture
def trec_files(tmp_path, cranfield) -> dict[str, Path]:
    """A small, valid TREC-style collection: TSV corpus, TSV or SGML topics, TREC qrels."""
    doc_ids = sorted(cranfield.docs, key=int)[:20]
    files = {
        "corpus": tmp_path / "docs.tsv",
        "topics": tmp_path / "topics.txt",
        "sgml": tmp_path / "topics.sgml",
        "qrels": tmp_path / "qrels.txt",
    }
    files["corpus"].write_text("".join(f"{d}\t{cranfield.docs[d]}\n" for d in doc_ids), encoding="utf-8")
    files["topics"].write_text("".join(f"{q}\t{cranfield.queries[q]}\n" for q in ("1", "2", "3")), encoding="utf-8")
    files["sgml"].write_text(
        "".join(f"<top>\n<num> Number: {q}\n<title> {cranfield.queries[q]}\n</top>\n\n" for q in ("1", "2", "3")),
        encoding="utf-8",
    )
    files["qrels"].write_text(f"1 0 {doc_ids[0]} 2\n1 0 {doc_ids[1]} 0\n2 0 {doc_ids[2]} 1\n3 0 {doc_ids[3]} 1\n", encoding="utf-8")
    return files


def _trec_reference(files: dict[str, Path], topics: str = "topics") -> str:
    return f"trec:corpus={files['corpus']},topics={files[topics]},qrels={files['qrels']}"


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("file, number", [("corpus", 4), ("topics", 2), ("sgml", 6), ("qrels", 3)])
def test_trec_file_that_is_not_utf8(trec_files, file, number, gz) -> None:
    if gz:
        trec_files[file] = _gzip_in_place(trec_files[file])
    _spoil_line(trec_files[file], number)
    with pytest.raises(DataError) as info:
        load_trec(_trec_reference(trec_files, "sgml" if file == "sgml" else "topics")[5:])
    _assert_one_line(info, str(trec_files[file]), f"line {number}:", "not valid UTF-8")


def test_trec_run_that_is_not_utf8(tmp_path) -> None:
    path = tmp_path / "run.trec"
    path.write_bytes(b"q1 Q0 d1 1 0.5 tag\nq1 Q0 d\xe92 2 0.4 tag\n")
    with pytest.raises(DataError) as info:
        read_trec_run(path)
    _assert_one_line(info, str(path), "line 2:", "not valid UTF-8")


def test_file_named_gz_that_is_not_gzip(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    packed = corpus.with_name("corpus.jsonl.gz")
    packed.write_bytes(corpus.read_bytes())  # plain text behind a .gz name
    corpus.unlink()
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(packed), "gzip")


def test_truncated_gzip(beir_folder) -> None:
    packed = _gzip_in_place(beir_folder / "corpus.jsonl")
    packed.write_bytes(packed.read_bytes()[:-40])
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(packed), "gzip")


def test_utf8_byte_order_mark_is_accepted(beir_folder) -> None:
    plain = load_beir_folder(beir_folder)
    for file in ("corpus.jsonl", "queries.jsonl", "qrels/test.tsv"):
        path = beir_folder / file
        path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    with_bom = load_beir_folder(beir_folder)
    assert with_bom.fingerprint() == plain.fingerprint() and with_bom.warnings == []


@pytest.mark.parametrize("file, number, record", [
    ("corpus.jsonl", 6, '{"_id": "6", "title": "t", "text": "a \\ud800 b"}'),
    ("corpus.jsonl", 2, '{"_id": "2", "title": "\\udfff", "text": "body"}'),
    ("queries.jsonl", 3, '{"_id": "q\\uDC80", "text": "a query"}'),
])
def test_json_lone_surrogate_is_refused(beir_folder, file, number, record) -> None:
    path = beir_folder / file
    _replace_line(path, number, record)
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(path), f"line {number}:", "surrogate")


def test_json_surrogate_pair_is_fine(beir_folder) -> None:
    _replace_line(beir_folder / "corpus.jsonl", 6, '{"_id": "6", "text": "emoji \\ud83d\\ude00 here"}')
    collection = load_beir_folder(beir_folder)
    assert collection.docs["6"] == "emoji \U0001F600 here"
    collection.fingerprint()


@pytest.mark.parametrize("record, fragment", [
    ('{"_id": ["7"], "text": "x"}', "'_id' must be a string or an integer, not an array"),
    ('{"_id": true, "text": "x"}', "'_id' must be a string or an integer, not a boolean"),
    ('{"_id": 7.5, "text": "x"}', "'_id' must be a string or an integer, not a number"),
    ('{"_id": "7", "text": 12}', "'text' must be a string or null, not a number"),
    ('{"_id": "7", "title": {"a": 1}, "text": "x"}', "'title' must be a string or null, not an object"),
    ('{"_id": "", "text": "x"}', "empty document id"),
    ('{"_id": "doc 7", "text": "x"}', "document id 'doc 7' contains whitespace"),
])
def test_json_field_of_the_wrong_kind(beir_folder, record, fragment) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _replace_line(corpus, 7, record)
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "line 7:", fragment)


def test_json_nested_too_deeply(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _replace_line(corpus, 5, "[" * 100_000 + "]" * 100_000)
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "line 5:", "nested too deeply")


def test_integer_ids_and_null_text_are_accepted(beir_folder) -> None:
    _replace_line(beir_folder / "corpus.jsonl", 7, '{"_id": 7, "title": null, "text": "seven"}')
    _replace_line(beir_folder / "corpus.jsonl", 8, '{"_id": "8", "title": "only a title", "text": null}')
    docs = load_beir_folder(beir_folder).docs
    assert docs["7"] == "seven" and docs["8"] == "only a title"


# -- silent data problems: each an error or a counted warning (rules: robustness/data/formats.py) --
def _append(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.writelines(line + "\n" for line in lines)


def test_builtin_collections_fingerprints_and_warnings() -> None:
    expected = {
        "scifact": ("5b949b316c23bc03", [], {"test": [], "train": []}),
        "vaswani": ("ae7b8920da94455d", [], {"test": []}),
        "cranfield": (
            "a663d2645dd0ae74",
            [f"2 empty document(s) in {BUILTIN_DIR / 'cranfield' / 'corpus.jsonl.gz'} (first: '471'): "
             "no letter or digit; they are kept (no ranker can match them)"],
            {"test": []},
        ),
    }
    for name, (fingerprint, warnings, split_warnings) in expected.items():
        collection = load_collection(name)
        assert collection.fingerprint() == fingerprint, name
        assert collection.warnings == warnings, name
        assert {s: collection.split_warnings(s) for s in collection.qrels} == split_warnings, name


def test_duplicate_document_ids_with_the_same_text_warn_and_keep_the_first(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    lines = corpus.read_text(encoding="utf-8").splitlines()
    _append(corpus, lines[4], lines[2], lines[4])
    collection = load_beir_folder(beir_folder)
    assert len(collection.docs) == 30
    assert collection.warnings == [f"3 duplicate document id(s) in {corpus} (first: '5', line 31); the first copy is kept"]


def test_duplicate_document_id_with_another_text_is_an_error(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _append(corpus, json.dumps({"_id": "12", "title": "", "text": "a different document"}))
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(corpus), "line 31:", "document id '12'", "line 12", "different text")


def test_duplicate_query_ids(beir_folder) -> None:
    queries = beir_folder / "queries.jsonl"
    first = queries.read_text(encoding="utf-8").splitlines()[0]
    _append(queries, first)
    collection = load_beir_folder(beir_folder)
    assert collection.warnings == [f"1 duplicate query id(s) in {queries} (first: '1', line 4); the first copy is kept"]
    _append(queries, json.dumps({"_id": "2", "text": "another question"}))
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(queries), "line 5:", "query id '2'", "line 2", "different text")


def test_duplicate_trec_topics(trec_files) -> None:
    _append(trec_files["topics"], "2\tsomething else entirely")
    with pytest.raises(DataError) as info:
        load_trec(_trec_reference(trec_files)[5:])
    _assert_one_line(info, str(trec_files["topics"]), "line 4:", "query id '2'", "different text")
    sgml = trec_files["sgml"]
    sgml.write_text(sgml.read_text(encoding="utf-8") * 2, encoding="utf-8")
    collection = load_trec(_trec_reference(trec_files, "sgml")[5:])
    assert collection.warnings == [f"3 duplicate query id(s) in {sgml} (first: '1', <top> block 4); the first copy is kept"]


def test_duplicate_judgements_keep_the_first_grade(beir_folder, trec_files) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _append(qrels, "1\t1\t0", "2\t3\t1", "1\t1\t2")  # (1, 1) graded 2 on line 2, then 0, then 2 again
    collection = load_beir_folder(beir_folder)
    assert collection.qrels["test"]["1"]["1"] == 2 and collection.qrels["test"]["2"]["3"] == 1
    assert collection.warnings == [
        f"3 duplicate judgement(s) in {qrels} (first: query '1' document '1', line 6), 1 with another grade; "
        "the first line's grade is kept"
    ]
    trec_qrels = trec_files["qrels"]
    doc = trec_qrels.read_text(encoding="utf-8").split()[2]
    _append(trec_qrels, f"1 0 {doc} 0")
    assert read_trec_qrels(trec_qrels)["1"][doc] == 2
    warnings: list[str] = []
    read_trec_qrels(trec_qrels, warnings)
    assert warnings == [
        f"1 duplicate judgement(s) in {trec_qrels} (first: query '1' document '{doc}', line 5), 1 with another grade; "
        "the first line's grade is kept"
    ]


def test_empty_documents_are_kept_and_counted(beir_folder) -> None:
    corpus = beir_folder / "corpus.jsonl"
    _replace_line(corpus, 3, '{"_id": "3", "title": "", "text": ""}')
    _replace_line(corpus, 9, '{"_id": "9", "title": " . ", "text": "-- !"}')
    collection = load_beir_folder(beir_folder)
    assert collection.docs["3"] == "" and collection.docs["9"] == ".  -- !"
    assert collection.warnings == [
        f"2 empty document(s) in {corpus} (first: '3'): no letter or digit; they are kept (no ranker can match them)"
    ]


def test_empty_queries_are_dropped_from_the_split_and_counted(beir_folder) -> None:
    queries = beir_folder / "queries.jsonl"
    _replace_line(queries, 1, '{"_id": "1", "text": "  ?! "}')
    _replace_line(queries, 2, '{"_id": "2", "text": null}')
    _append(beir_folder / "qrels" / "test.tsv", "3\t5\t1")
    collection = load_beir_folder(beir_folder)
    assert collection.warnings == []
    queries_kept, qrels = collection.split("test")
    assert list(queries_kept) == ["3"] and list(qrels) == ["3"]
    assert collection.split_warnings("test") == [
        f"collection 'mini' split 'test': 2 judged query(ies) with no letter or digit dropped (first: '1')",
    ]


def test_judged_queries_without_a_relevant_document_are_counted(beir_folder) -> None:
    collection = load_beir_folder(beir_folder)
    assert sorted(collection.split("test")[0]) == ["1", "2"]
    assert collection.split_warnings("test") == [
        "collection 'mini' split 'test': 1 judged query(ies) without a relevant document dropped (first: '3')",
    ]


def test_split_warnings_of_an_unknown_split(cranfield) -> None:
    with pytest.raises(DataError, match=r"has no 'dev' split"):
        cranfield.split_warnings("dev")


def test_judgements_naming_unknown_ids_are_counted(beir_folder) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _append(qrels, "77\t1\t1", "78\t2\t1", "1\tno-such-doc\t1")
    collection = load_beir_folder(beir_folder)
    assert collection.warnings == [
        f"2 judgement(s) in {qrels} name a query id not in the queries (first: '77'); they are ignored",
        f"1 judgement(s) in {qrels} name a document id not in the corpus (first: 'no-such-doc'); "
        "they are kept, so a relevant one counts as missed",
    ]
    assert collection.qrels["test"]["1"]["no-such-doc"] == 1
    assert sorted(collection.split("test")[0]) == ["1", "2"]


def test_qrels_file_in_which_nothing_resolves(beir_folder, trec_files) -> None:
    path = beir_folder / "qrels" / "dev.tsv"
    path.write_text("query-id\tcorpus-id\tscore\n77\t1\t1\n1\tnope\t1\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(path), "none of its 2 judgement(s)", "query '77' document '1'")
    trec_files["qrels"].write_text("101 0 d1 1\n102 0 d2 0\n", encoding="utf-8")
    with pytest.raises(DataError) as info:
        load_trec(_trec_reference(trec_files)[5:])
    _assert_one_line(info, str(trec_files["qrels"]), "none of its 2 judgement(s)")


@pytest.mark.parametrize("row, fragment", [
    ("1\t\t1", "empty document id"),
    ("\t1\t1", "empty query id"),
    ("1 \t2\t1", "query id '1 ' contains whitespace"),
])
def test_qrels_ids_must_be_usable(beir_folder, row, fragment) -> None:
    qrels = beir_folder / "qrels" / "test.tsv"
    _replace_line(qrels, 3, row)
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, str(qrels), "line 3:", fragment)


def test_two_qrels_files_for_one_split(beir_folder) -> None:
    plain = beir_folder / "qrels" / "test.tsv"
    (beir_folder / "qrels" / "test.tsv.gz").write_bytes(gzip.compress(plain.read_bytes()))
    with pytest.raises(DataError) as info:
        load_beir_folder(beir_folder)
    _assert_one_line(info, "two qrels files for split 'test'", str(plain))


def test_tsv_corpus_rules(trec_files) -> None:
    corpus = trec_files["corpus"]
    _append(corpus, "", "   ")  # blank lines are skipped
    assert len(load_trec(_trec_reference(trec_files)[5:]).docs) == 20
    _append(corpus, "\tno id")
    with pytest.raises(DataError) as info:
        load_trec(_trec_reference(trec_files)[5:])
    _assert_one_line(info, str(corpus), "line 23:", "empty document id")


# -- ir_datasets: one clean line, no log noise ------------------------------------------------------
def test_irds_long_reason_is_cut_at_a_word_boundary(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    reason = (
        "every configured download source refused the connection or timed out while this client was waiting "
        "for its response, so the archive holding the documents, the queries and the judgements of this dataset "
        "is missing from the cache and cannot be fetched again"
    )

    def offline(dataset_id):
        raise ConnectionError(reason)

    monkeypatch.setattr(ir_datasets, "load", offline)
    with pytest.raises(DataError) as info:
        load_collection("irds:msmarco-passage/trec-dl-2019/judged")
    message = str(info.value)
    _assert_one_line(info, "irds:msmarco-passage/trec-dl-2019/judged", "network", "every configured download source")
    shown = message[message.index("(every") + 1 : -1]
    kept = shown.removesuffix(" ...")
    assert shown.endswith(" ...") and len(shown) <= 200
    assert reason.startswith(kept) and reason[len(kept)] in " ,"  # cut between two words


def test_irds_urllib3_cause_is_left_out(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    reason = (
        "HTTPSConnectionPool(host='msmarco.z22.web.core.windows.net', port=443): Max retries exceeded with url: "
        "/msmarcoranking/collectionandqueries.tar.gz (Caused by NameResolutionError(\"HTTPSConnection(host="
        "'msmarco.z22.web.core.windows.net', port=443): Failed to resolve 'msmarco.z22.web.core.windows.net'\"))"
    )

    def offline(dataset_id):
        raise RuntimeError("All download sources failed", [("RequestsDownload(...)", ConnectionError(reason))])

    monkeypatch.setattr(ir_datasets, "load", offline)
    with pytest.raises(DataError) as info:
        load_collection("irds:msmarco-passage/trec-dl-2019/judged")
    assert str(info.value).endswith(
        "(All download sources failed: HTTPSConnectionPool(host='msmarco.z22.web.core.windows.net', port=443): "
        "Max retries exceeded with url: /msmarcoranking/collectionandqueries.tar.gz)"
    )


def test_irds_first_sentence_is_the_reason(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")

    def offline(dataset_id):
        raise OSError("The download failed. Check your proxy settings, then try again.")

    monkeypatch.setattr(ir_datasets, "load", offline)
    with pytest.raises(DataError) as info:
        load_collection("irds:vaswani")
    assert str(info.value).endswith("(The download failed.)")


def test_irds_offline_for_real_prints_one_line_and_no_log_noise(tmp_path) -> None:
    """A fresh process with no network (sockets refused) and an empty ir_datasets home."""
    pytest.importorskip("ir_datasets")
    script = (
        "import socket\n"
        "def refuse(*args, **kwargs):\n"
        "    raise OSError('network is unreachable (sockets refused by the test)')\n"
        "socket.socket.connect = refuse\n"
        "socket.getaddrinfo = refuse\n"
        "from robustness.data import load_collection\n"
        "from robustness.errors import DataError\n"
        "try:\n"
        "    load_collection('irds:vaswani')\n"
        "except DataError as exc:\n"
        "    print(exc)\n"
    )
    env = dict(os.environ, IR_DATASETS_HOME=str(tmp_path / "irds-home"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert len(lines) == 1, done.stdout
    assert lines[0].startswith("dataset irds:vaswani could not be loaded") and "All download sources failed" in lines[0]


def test_irds_log_lines_are_silenced_during_the_load(monkeypatch, capfd) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    def noisy(dataset_id):
        ir_datasets.log.easy().info("Please confirm you agree to the data usage agreement")
        ir_datasets.log.easy().warn("Download failed: no network")
        raise ConnectionError("no network")

    monkeypatch.setattr(ir_datasets, "load", noisy)
    with pytest.raises(DataError):
        load_collection("irds:some/dataset")
    assert capfd.readouterr().err == ""
    assert logging.getLogger("ir_datasets").disabled is False  # restored afterwards


class _FakeIrds:
    """Just enough of an ir_datasets dataset for the loader."""

    class _Record:
        def __init__(self, **fields):
            self.__dict__.update(fields)

        def default_text(self):
            return " ".join(v for k, v in vars(self).items() if k in ("title", "text") and v)

    def __init__(self, docs, queries, qrels, has=(True, True, True)):
        self._docs = [self._Record(doc_id=d, title=t, text=x) for d, t, x in docs]
        self._queries = [self._Record(query_id=q, text=x) for q, x in queries]
        self._qrels = [self._Record(query_id=q, doc_id=d, relevance=r, iteration="0") for q, d, r in qrels]
        self._has = has

    def has_docs(self):
        return self._has[0]

    def has_queries(self):
        return self._has[1]

    def has_qrels(self):
        return self._has[2]

    def docs_iter(self):
        return iter(self._docs)

    def queries_iter(self):
        return iter(self._queries)

    def qrels_iter(self):
        return iter(self._qrels)


def test_irds_duplicates_and_unknown_ids_are_counted(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    fake = _FakeIrds(
        docs=[("d1", "T", "one"), ("d2", "", "two"), ("d1", "T", "another one"), ("d3", "", "")],
        queries=[("q1", "first"), ("q2", "second")],
        qrels=[("q1", "d1", 1), ("q2", "d9", 1), ("q1", "d1", 0)],
    )
    monkeypatch.setattr(ir_datasets, "load", lambda dataset_id: fake)
    collection = load_collection("irds:fake/with-duplicates")
    assert collection.docs == {"d1": "T one", "d2": "two", "d3": ""}
    assert collection.qrels == {"test": {"q1": {"d1": 1}, "q2": {"d9": 1}}}
    assert collection.warnings == [
        "1 duplicate document id(s) in irds:fake/with-duplicates documents (first: 'd1', document 3), "
        "1 with another text; the first copy is kept",
        "1 empty document(s) in irds:fake/with-duplicates documents (first: 'd3'): no letter or digit; "
        "they are kept (no ranker can match them)",
        "1 duplicate judgement(s) in irds:fake/with-duplicates qrels (first: query 'q1' document 'd1', judgement 3), "
        "1 with another grade; the first line's grade is kept",
        "1 judgement(s) in irds:fake/with-duplicates qrels name a document id not in the corpus (first: 'd9'); "
        "they are kept, so a relevant one counts as missed",
    ]


def test_irds_dataset_without_qrels(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    monkeypatch.setattr(ir_datasets, "load", lambda dataset_id: _FakeIrds([], [], [], has=(True, True, False)))
    with pytest.raises(DataError) as info:
        load_collection("irds:fake/no-qrels")
    _assert_one_line(info, "irds:fake/no-qrels", "has no qrels")


def test_irds_ids_follow_the_same_rules(monkeypatch) -> None:
    ir_datasets = pytest.importorskip("ir_datasets")
    fake = _FakeIrds(docs=[("d1", "", "one"), ("d 2", "", "two")], queries=[("q1", "one")], qrels=[("q1", "d1", 1)])
    monkeypatch.setattr(ir_datasets, "load", lambda dataset_id: fake)
    with pytest.raises(DataError) as info:
        load_collection("irds:fake/spaced-ids")
    _assert_one_line(info, "irds:fake/spaced-ids document 2:", "document id 'd 2' contains whitespace")
