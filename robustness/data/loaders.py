"""Load a collection from a reference: a built-in name, a BEIR folder, TREC files or ir_datasets.

References (strings in specs and on the command line):
- `scifact` (default), `vaswani`, `cranfield`: shipped with the package (see builtin/PROVENANCE.md);
- `beir:<folder>` or an existing folder path: BEIR layout (corpus.jsonl[.gz], queries.jsonl[.gz],
  qrels/<split>.tsv[.gz]);
- `trec:corpus=<file>,topics=<file>,qrels=<file>[,split=<name>]`: a corpus as BEIR JSONL or
  `docid<TAB>text` TSV, TREC topics and TREC qrels;
- `irds:<dataset id>`: through ir_datasets (needs the network or a filled ir_datasets cache).

Every loader applies the rules in `robustness.data.formats`: what is wrong is a one-line
`DataError`, what is tolerable is a counted line in `Collection.warnings`.
"""

from __future__ import annotations

import logging
import re
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Iterator

from robustness.data.collection import Collection, Qrels
from robustness.data.formats import (
    collect_corpus,
    collect_qrels,
    check_id,
    collect_unique,
    find_file,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    read_trec_qrels,
    read_trec_topics,
    read_tsv_corpus,
)
from robustness.errors import DataError

BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN = {
    "scifact": "SciFact (BEIR): biomedical claims vs. abstracts; train and test splits",
    "vaswani": "Vaswani (NPL): physics and electronics abstracts; test split",
    "cranfield": "Cranfield: aerodynamics abstracts, graded 1..4; test split",
}


def available_datasets() -> dict[str, str]:
    return dict(BUILTIN) | {
        "beir:<folder>": "any BEIR-layout folder",
        "trec:corpus=..,topics=..,qrels=..": "TREC topics and qrels with a JSONL/TSV corpus",
        "irds:<id>": "any ir_datasets id (needs network or its cache)",
    }


def check_judgements(source: object, qrels: Qrels, queries: dict[str, str], docs: dict[str, str]) -> list[str]:
    """Counted warnings for judgements naming unknown queries or documents (rules: `formats`);
    a DataError when not one judgement names both a known query and a known document."""
    pairs = [(qid, did) for qid, judged in qrels.items() for did in judged]
    unknown_queries = [qid for qid, _ in pairs if qid not in queries]
    unknown_docs = [did for _, did in pairs if did not in docs]
    if not any(qid in queries and did in docs for qid, did in pairs):
        qid, did = pairs[0]
        raise DataError(
            f"{source}: none of its {len(pairs)} judgement(s) names a known query and document "
            f"(first: query {qid!r} document {did!r}); are these the qrels of another collection?"
        )
    warnings = []
    if unknown_queries:
        warnings.append(
            f"{len(unknown_queries)} judgement(s) in {source} name a query id not in the queries "
            f"(first: {unknown_queries[0]!r}); they are ignored"
        )
    if unknown_docs:
        warnings.append(
            f"{len(unknown_docs)} judgement(s) in {source} name a document id not in the corpus "
            f"(first: {unknown_docs[0]!r}); they are kept, so a relevant one counts as missed"
        )
    return warnings


def load_beir_folder(folder: Path, name: str | None = None) -> Collection:
    if not folder.is_dir():
        raise DataError(f"dataset folder not found: {folder}")
    qrels_files: dict[str, Path] = {}
    for path in sorted((folder / "qrels").glob("*.tsv*")):
        split = path.name.split(".")[0]
        if split in qrels_files:
            raise DataError(f"two qrels files for split {split!r}: {qrels_files[split]} and {path}; keep one")
        qrels_files[split] = path
    if not qrels_files:
        raise DataError(f"no qrels/<split>.tsv files in {folder}")
    warnings: list[str] = []
    docs = read_beir_corpus(find_file(folder, "corpus.jsonl"), warnings)
    queries = read_beir_queries(find_file(folder, "queries.jsonl"), warnings)
    qrels = {}
    for split, path in qrels_files.items():
        qrels[split] = read_beir_qrels(path, warnings)
        warnings += check_judgements(path, qrels[split], queries, docs)
    return Collection(name=name or folder.name, docs=docs, queries=queries, qrels=qrels, source=str(folder), warnings=warnings)


def load_trec(reference: str) -> Collection:
    fields: dict[str, str] = {}
    for part in reference.split(","):
        key, sep, value = part.partition("=")
        if not sep:
            raise DataError(f"trec dataset reference part {part!r} is not key=value (keys: corpus, topics, qrels, split)")
        fields[key.strip()] = value.strip()
    missing = [k for k in ("corpus", "topics", "qrels") if k not in fields]
    if missing:
        raise DataError(f"trec dataset reference lacks {', '.join(missing)}")
    corpus_path, qrels_path = Path(fields["corpus"]), Path(fields["qrels"])
    warnings: list[str] = []
    is_jsonl = ".jsonl" in corpus_path.name
    docs = (read_beir_corpus if is_jsonl else read_tsv_corpus)(corpus_path, warnings)
    queries = read_trec_topics(Path(fields["topics"]), warnings)
    qrels = read_trec_qrels(qrels_path, warnings)
    warnings += check_judgements(qrels_path, qrels, queries, docs)
    return Collection(
        name=Path(fields["topics"]).stem,
        docs=docs,
        queries=queries,
        qrels={fields.get("split", "test"): qrels},
        source="trec:" + reference,
        warnings=warnings,
    )


@contextmanager
def _quiet_ir_datasets() -> Iterator[None]:
    """Silence ir_datasets' log lines (download attempts, retries, notices) for the duration.

    ir_datasets logs through the logger "ir_datasets" (created lazily, its own stderr handler,
    no propagation); a logger disabled before it is created stays disabled when it is."""
    names = ["ir_datasets"] + [n for n in list(logging.root.manager.loggerDict) if n.startswith("ir_datasets.")]
    loggers = [logging.getLogger(n) for n in names]
    saved = [logger.disabled for logger in loggers]
    for logger in loggers:
        logger.disabled = True
    try:
        yield
    finally:
        for logger, disabled in zip(loggers, saved):
            logger.disabled = disabled


def short_reason(exc: BaseException, limit: int = 200) -> str:
    """An exception as a short phrase: its first line and first sentence, without urllib3's
    "(Caused by ...)" tail, cut at a word boundary to at most `limit` characters."""
    text = str(exc)
    args = exc.args
    # ir_datasets: RuntimeError("All download sources failed", [(source, error), ...])
    if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], list):
        errors = [e for pair in args[1] if isinstance(pair, tuple) for e in pair if isinstance(e, BaseException)]
        if errors:
            text = f"{args[0]}: {errors[0]}"
    text = " ".join((text.strip().splitlines() or [""])[0].split()).split(" (Caused by ")[0] or type(exc).__name__
    sentence = re.match(r"(.+?[.!?])\s+[A-Z]", text)
    if sentence:
        text = sentence.group(1)
    if len(text) > limit:
        cut = text.rfind(" ", 0, limit - 3)
        text = text[: cut if cut > limit // 2 else limit - 4].rstrip(",;:( ") + " ..."
    return text


def load_irds(dataset_id: str) -> Collection:
    """Load through ir_datasets; offline without a cache this fails in one line naming the id.

    ir_datasets' own log lines are silenced during the load: the error carries the reason.
    Its data follows the rules in `formats`, except that a document or query id repeated with
    another text is a counted warning (first copy kept): a published dataset cannot be edited.
    """
    try:
        import ir_datasets
    except ImportError:
        raise DataError(f"dataset irds:{dataset_id} needs the ir_datasets package (pip install ir_datasets)") from None
    label = f"irds:{dataset_id}"
    warnings: list[str] = []
    with _quiet_ir_datasets():
        try:
            dataset = ir_datasets.load(dataset_id)
        except KeyError:
            raise DataError(f"unknown ir_datasets id {dataset_id!r}") from None
        except Exception as exc:
            raise _irds_unavailable(label, exc) from None
        lacks = [part for part in ("docs", "queries", "qrels") if not getattr(dataset, f"has_{part}")()]
        if lacks:
            raise DataError(f"dataset {label} has no {' or '.join(lacks)}; pick an id with all three (e.g. a test split)")
        try:
            docs = collect_corpus(f"{label} documents", lambda: (
                (f"document {n}", check_id(label, f"document {n}", d.doc_id, "document"), _irds_doc_text(d))
                for n, d in enumerate(dataset.docs_iter(), 1)
            ), warnings, strict=False)
            queries = collect_unique(f"{label} queries", "query id", "text", lambda: (
                (f"query {n}", check_id(label, f"query {n}", q.query_id, "query"), q.default_text())
                for n, q in enumerate(dataset.queries_iter(), 1)
            ), warnings, strict=False)
            qrels = collect_qrels(f"{label} qrels", lambda: (
                (f"judgement {n}", (j.query_id, j.doc_id), int(j.relevance)) for n, j in enumerate(dataset.qrels_iter(), 1)
            ), warnings)
        except DataError:
            raise
        except Exception as exc:  # downloads happen lazily, while iterating
            raise _irds_unavailable(label, exc) from None
    warnings += check_judgements(f"{label} qrels", qrels, queries, docs)
    return Collection(name=dataset_id, docs=docs, queries=queries, qrels={"test": qrels}, source=label, warnings=warnings)


def _irds_unavailable(label: str, exc: Exception) -> DataError:
    """ir_datasets raises many kinds of network and cache errors: one line with a short reason."""
    return DataError(
        f"dataset {label} could not be loaded: it needs network access or a filled "
        f"ir_datasets cache (~/.ir_datasets) ({short_reason(exc)})"
    )


def _irds_doc_text(doc) -> str:
    """Title and text joined, as for BEIR; the dataset's default text when it has neither."""
    text = " ".join(str(getattr(doc, f) or "") for f in ("title", "text") if hasattr(doc, f)).strip()
    return text or doc.default_text()


@lru_cache(maxsize=8)
def load_collection(reference: str) -> Collection:
    """Resolve a dataset reference (see the module docstring) into a Collection; cached per process."""
    if reference in BUILTIN:
        collection = load_beir_folder(BUILTIN_DIR / reference, reference)
        collection.source = f"builtin:{reference}"
        return collection
    if reference.startswith("beir:"):
        return load_beir_folder(Path(reference[5:]).expanduser())
    if reference.startswith("irds:"):
        return load_irds(reference[5:])
    if reference.startswith("trec:"):
        return load_trec(reference[5:])
    if Path(reference).expanduser().is_dir():
        return load_beir_folder(Path(reference).expanduser())
    known = ", ".join(BUILTIN)
    raise DataError(f"unknown dataset {reference!r} (built-in: {known}; or beir:<folder>, trec:..., irds:<id>)")
