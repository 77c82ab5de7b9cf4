"""The fault matrix: every kind of bad input, run through the CLI as a user would.

Each row builds its input in a fresh directory, runs `robustness run`, and asserts
(a) the exit code (2: refused before any work; 1: the run finished, with a failure recorded;
0: the run finished, with a warning), (b) one line on stderr naming the problem and where
(file and line, field, ranker) and no traceback anywhere, and (c) that what was finished
before the fault is still in results.json and in the score store. A new kind of bad input is
one more `Fault` row.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import textwrap
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from robustness.cli import main

BASE = "name: faults\nseed: 1\ndataset: cranfield\nmax_queries: 3\ncandidates_k: 30\nrankers: [bm25]\ntasks: []\n"

PLUGINS = '''
import numpy as np


def overlap(queries, docs):
    return np.array([len(set(q.split()) & set(d.split())) + 1e-6 * len(d) for q, d in zip(queries, docs)])


class Overlap:
    name = "overlap"

    def score(self, queries, docs):
        return overlap(queries, docs)

    def fingerprint(self):
        return "overlap-v1"


class NoFingerprintValue(Overlap):
    name = "nofp"

    def fingerprint(self):
        return None


class SameFingerprint(Overlap):
    """Scores differently from Overlap but claims its fingerprint."""

    name = "impostor"

    def score(self, queries, docs):
        return -overlap(queries, docs)


class FailsAfterSomePairs(Overlap):
    """Works for the first 40 pairs, then raises a plain exception (a bug in a user's ranker)."""

    name = "flaky"

    def __init__(self):
        self.seen = 0

    def score(self, queries, docs):
        self.seen += len(queries)
        if self.seen > 40:
            raise ZeroDivisionError("user code divided by zero")
        return overlap(queries, docs)

    def fingerprint(self):
        return "flaky-v1"


class BrokenConstructor(Overlap):
    name = "broken"

    def __init__(self):
        raise ValueError("missing API key")


class ReturnsNaN(Overlap):
    name = "nan"

    def score(self, queries, docs):
        return np.full(len(queries), np.nan)

    def fingerprint(self):
        return "nan-v1"


class WrongShape(Overlap):
    name = "shape"

    def score(self, queries, docs):
        return np.zeros((len(queries), 3))

    def fingerprint(self):
        return "shape-v1"


class NoScore:
    name = "noscore"
'''


def _beir(folder: Path, corpus: bytes | str | None = None, queries: bytes | str | None = None, qrels: str | None = None) -> str:
    """A small BEIR folder (5 documents, 2 queries) with any file replaced by the given content."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "qrels").mkdir(exist_ok=True)
    default_corpus = "\n".join(json.dumps({"_id": f"d{i}", "text": f"wing flow {'shock wave' if i % 2 else 'boundary layer'} case {i}"}) for i in range(5))
    default_queries = "\n".join([json.dumps({"_id": "q1", "text": "shock wave"}), json.dumps({"_id": "q2", "text": "boundary layer"})])
    default_qrels = "query-id\tcorpus-id\tscore\nq1\td1\t1\nq2\td2\t1\n"
    for name, content, default in (("corpus.jsonl", corpus, default_corpus), ("queries.jsonl", queries, default_queries), ("qrels/test.tsv", qrels, default_qrels)):
        value = default if content is None else content
        (folder / name).write_bytes(value if isinstance(value, bytes) else value.encode("utf-8"))
    return f"beir:{folder}"


@dataclass
class Case:
    """What a row's setup produced: the spec text and extra CLI arguments."""

    spec: str = BASE
    args: list[str] = field(default_factory=list)
    cache: Path | None = None  # a cache directory of the row's own (ROBUSTNESS_CACHE_DIR)


@dataclass
class Fault:
    name: str
    setup: Callable[[Path], Case]
    exit_code: int
    stderr: str  # regex the single stderr line (exit 2) or results' error line (exit 1) must match
    kept: Callable[[dict], bool] | None = None  # what must survive in results.json (exit 0/1)
    warns: str | None = None  # regex a data warning must match (exit 0)


def _spec(extra: str) -> Callable[[Path], Case]:
    return lambda tmp: Case(spec=BASE + extra)


def _args(*args: str, extra: str = "") -> Callable[[Path], Case]:
    return lambda tmp: Case(spec=BASE + extra, args=list(args))


def _dataset(**files) -> Callable[[Path], Case]:
    def setup(tmp: Path) -> Case:
        dataset = _beir(tmp / "data", **files)
        return Case(spec=BASE.replace("dataset: cranfield", f"dataset: '{dataset}'").replace("candidates_k: 30", "candidates_k: 5"))

    return setup


def _unwritable_output(tmp: Path) -> Case:
    blocker = tmp / "not-a-dir"
    blocker.write_text("a file where the results directory should be")
    return Case(args=["--output", str(blocker / "out")])


def _other_spec_results(tmp: Path) -> Case:
    out = tmp / "shared-out"
    out.mkdir()
    (out / "results.json").write_text(json.dumps({"spec_hash": "0123abcd", "name": "someone-else"}))
    return Case(args=["--output", str(out)])


def _garbage_store(tmp: Path) -> Case:
    cache = tmp / "cache"
    cache.mkdir()
    (cache / "scores.sqlite").write_bytes(b"this is not a database" * 100)
    return Case(cache=cache)


def _cache_is_a_file(tmp: Path) -> Case:
    cache = tmp / "cache-file"
    cache.write_text("not a directory")
    return Case(cache=cache)


def _kept_bm25(data: dict) -> bool:
    return data["rankers"]["bm25"]["effectiveness"]["ndcg@10"] > 0


ROWS = [
    # -- the spec: refused before any work ----------------------------------------------------
    Fault("unknown metric", _spec("metrics: [ndcg@10, foo@3]\n"), 2, r"metrics: unknown metric 'foo@3'"),
    Fault("mistyped task parameter", _args("--set", "tasks=[iid]", "--set", "tasks.0.params.worst_fraction=abc"), 2, r"tasks\.0\.params\.worst_fraction: Input should be a valid number"),
    Fault("misspelled task parameter", _args("--set", "tasks=[ood_query]", "--set", "tasks.0.params.variation=[typo_swap]"), 2, r"unknown parameter\(s\) variation for task 'ood_query' \(valid: variations, "),
    Fault("malformed --set YAML", _args("--set", "rankers.0.params.k1=[1"), 2, r"--set rankers\.0\.params\.k1=\[1: the value is not valid YAML"),
    Fault("CUDA on a CPU machine", _args("--set", "device=cuda"), 2, r"device 'cuda' was asked for, but CUDA is not available"),
    Fault("unknown device name", _args("--set", "device=gpu"), 2, r"device 'gpu' is not a device name"),
    Fault("YAML syntax error", lambda tmp: Case(spec=BASE + "tasks: [iid\n"), 2, r"is not valid YAML: line \d+, column \d+"),
    Fault("unknown ranker", _args("--ranker", "no-such-ranker"), 2, r"unknown ranker 'no-such-ranker' \(known: .*bm25"),
    Fault("plug-in without score, before any model loads", _args("--ranker", "PLUGIN:NoScore", extra="rankers: [bm25, minilm]\n"), 2, r"ranker '.*:NoScore' has no 'score'"),
    Fault("unknown task", _args("--set", "tasks=[nope]"), 2, r"unknown task 'nope'"),
    Fault("unknown attack in a task", _args("--set", "tasks=[adv_spam]", "--set", "tasks.0.params.attacks=[nope]"), 2, r"unknown attack 'nope'"),
    Fault("missing spec file", lambda tmp: Case(args=["SPEC-MISSING"]), 2, r"spec file not found"),
    Fault("unknown dataset", _spec("dataset: nowhere\n"), 2, r"unknown dataset 'nowhere'"),
    Fault("output dir is a file", _unwritable_output, 2, r"results directory .*not-a-dir/out is not writable"),
    Fault("output dir holds another spec", _other_spec_results, 2, r"holds the results of another spec \(hash 0123abcd"),
    Fault("cache directory is a file", _cache_is_a_file, 2, r"cache directory \(ROBUSTNESS_CACHE_DIR\): .*cache-file is a file, not a directory; .*--set cache=false"),
    # -- the data: refused with file and line ------------------------------------------------
    Fault("non-UTF-8 corpus", _dataset(corpus=b'{"_id": "d0", "text": "caf\xe9"}\n'), 2, r"corpus\.jsonl line 1: not valid UTF-8"),
    Fault("lone surrogate in queries", _dataset(queries='{"_id": "q1", "text": "shock \\ud800"}\n'), 2, r"queries\.jsonl line 1: field 'text' holds a lone surrogate"),
    Fault("malformed qrels line", _dataset(qrels="query-id\tcorpus-id\tscore\nq1\td1\n"), 2, r"test\.tsv line 2: expected 3 tab-separated fields"),
    Fault("qrels of another collection", _dataset(qrels="query-id\tcorpus-id\tscore\nx1\ty1\t1\n"), 2, r"test\.tsv: none of its 1 judgement\(s\) names a known query and document"),
    # -- the data: counted warnings, the run goes on ------------------------------------------
    Fault("duplicate document ids", _dataset(corpus="\n".join([json.dumps({"_id": "d1", "text": "shock wave"}), json.dumps({"_id": "d1", "text": "shock wave"}), json.dumps({"_id": "d2", "text": "boundary layer"})])), 0, "", warns=r"1 duplicate document id\(s\) in .*corpus\.jsonl"),
    Fault("stopword-only query", _dataset(queries="\n".join([json.dumps({"_id": "q1", "text": "shock wave"}), json.dumps({"_id": "q2", "text": "what is the"})])), 0, "", warns=r"1 judged query\(ies\) of split 'test' hold only stopwords and were dropped \(first: 'q2'\)"),
    Fault("empty document", _dataset(corpus="\n".join([json.dumps({"_id": "d1", "text": "shock wave"}), json.dumps({"_id": "d2", "text": "boundary layer"}), json.dumps({"_id": "d3", "text": " "})])), 0, "", warns=r"1 empty document\(s\)"),
    # -- a ranker fails: recorded against it, the others kept ---------------------------------
    Fault("fingerprint() returns None", _args("--ranker", "PLUGIN:NoFingerprintValue"), 1, r"ranker nofp: ranker 'nofp': fingerprint\(\) returned None", kept=_kept_bm25),
    Fault("plain exception mid-run", _args("--ranker", "PLUGIN:FailsAfterSomePairs"), 1, r"ranker flaky: ZeroDivisionError: user code divided by zero \(traceback in .*errors\.log\)", kept=_kept_bm25),
    Fault("constructor raises", _args("--ranker", "PLUGIN:BrokenConstructor"), 1, r"ranker PLUGIN:BrokenConstructor: ValueError: missing API key", kept=_kept_bm25),
    Fault("NaN scores", _args("--ranker", "PLUGIN:ReturnsNaN"), 1, r"ranker nan: ranker 'nan' returned \d+ non-finite score", kept=_kept_bm25),
    Fault("scores of the wrong shape", _args("--ranker", "PLUGIN:WrongShape"), 1, r"ranker shape: ranker 'shape' returned scores of shape \(\d+, 3\)", kept=_kept_bm25),
    Fault("missing model folder", _args(extra="rankers: [bm25, {type: bi-encoder, name: local, params: {model: /no/such/model}}]\n"), 1, r"ranker local: model folder '/no/such/model' does not exist", kept=_kept_bm25),
    Fault("corrupt score store", _garbage_store, 0, ""),
    Fault("two rankers claim one fingerprint", _args("--ranker", "PLUGIN:Overlap", "--ranker", "PLUGIN:SameFingerprint"), 2, r"rankers 'overlap' and 'impostor' report the same fingerprint 'overlap-v1'"),
]


@pytest.fixture
def plugins(tmp_path: Path) -> str:
    path = tmp_path / "faulty_plugins.py"
    path.write_text(textwrap.dedent(PLUGINS))
    return f"{path}"


def _store_rows() -> int:
    store = Path(os.environ["ROBUSTNESS_CACHE_DIR"]) / "scores.sqlite"
    if not store.exists():
        return 0
    with sqlite3.connect(store) as db:
        return db.execute("SELECT COUNT(*) FROM scores").fetchone()[0]


@pytest.mark.parametrize("fault", ROWS, ids=[r.name for r in ROWS])
def test_fault(fault: Fault, tmp_path: Path, plugins: str, monkeypatch) -> None:
    case = fault.setup(tmp_path)
    if case.cache is not None:
        monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(case.cache))
    spec = tmp_path / "spec.yaml"
    spec.write_text(case.spec, encoding="utf-8")
    args = [a.replace("PLUGIN", plugins) for a in case.args]
    if args and args[0] == "SPEC-MISSING":
        args = [str(tmp_path / "missing.yaml")]
    elif "--output" not in args:
        args = [str(spec), "--output", str(tmp_path / "out"), *args]
    else:
        args = [str(spec), *args]
    out = Path(args[args.index("--output") + 1]) if "--output" in args else tmp_path / "out"
    result = CliRunner().invoke(main, ["run", *args, "--no-progress"])

    assert "Traceback" not in result.output + result.stderr, result.output + result.stderr
    assert result.exit_code == fault.exit_code, result.output + result.stderr
    if fault.exit_code == 2:
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
        assert re.search(fault.stderr.replace("PLUGIN", re.escape(plugins)), lines[0]), lines[0]
        assert not (out / "report.md").exists()  # refused before any work: nothing half-written
        return
    data = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert data.get("finished"), "the run must finish and write its report"
    assert (out / "report.md").is_file()
    if fault.exit_code == 1:
        pattern = fault.stderr.replace("PLUGIN", re.escape(plugins))
        assert any(re.search(pattern, e) for e in data["errors"]), data["errors"]
        assert any(re.search(pattern, line) for line in result.output.splitlines()), result.output  # shown on the terminal
        assert fault.kept(data) and _store_rows() > 0  # finished work is in results.json and the store
    if case.cache is not None and case.cache.is_dir():  # a corrupt store was moved aside, not trusted
        assert len(list(case.cache.glob("scores.sqlite.corrupt-*"))) == 1 and _store_rows() > 0
    if fault.warns:
        assert any(re.search(fault.warns, w) for w in data["data_warnings"]), data["data_warnings"]
        assert re.search(fault.warns, result.output)  # and on the terminal
