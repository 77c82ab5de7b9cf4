"""Collections: the built-in data, the BEIR / TREC / ir_datasets loaders and their one-line errors."""

from __future__ import annotations

import gzip
import json
import shutil
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
from robustness.data.loaders import BUILTIN_DIR, load_beir_folder
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
