"""Load a collection from a reference: a built-in name, a BEIR folder, TREC files or ir_datasets.

References (strings in specs and on the command line):
- `scifact` (default), `vaswani`, `cranfield`: shipped with the package (see builtin/PROVENANCE.md);
- `beir:<folder>` or an existing folder path: BEIR layout (corpus.jsonl[.gz], queries.jsonl[.gz],
  qrels/<split>.tsv);
- `trec:corpus=<file>,topics=<file>,qrels=<file>[,split=<name>]`: a corpus as BEIR JSONL or
  `docid<TAB>text` TSV, TREC topics and TREC qrels;
- `irds:<dataset id>`: through ir_datasets (needs the network or a filled ir_datasets cache).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from robustness.data.collection import Collection, Qrels
from robustness.data.formats import (
    find_file,
    open_text,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_queries,
    read_trec_qrels,
    read_trec_topics,
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


def load_beir_folder(folder: Path, name: str | None = None) -> Collection:
    if not folder.is_dir():
        raise DataError(f"dataset folder not found: {folder}")
    qrels_dir = folder / "qrels"
    qrels = {p.name.split(".")[0]: read_beir_qrels(p) for p in sorted(qrels_dir.glob("*.tsv*"))}
    if not qrels:
        raise DataError(f"no qrels/<split>.tsv files in {folder}")
    return Collection(
        name=name or folder.name,
        docs=read_beir_corpus(find_file(folder, "corpus.jsonl")),
        queries=read_beir_queries(find_file(folder, "queries.jsonl")),
        qrels=qrels,
        source=str(folder),
    )


def _read_tsv_corpus(path: Path) -> dict[str, str]:
    docs: dict[str, str] = {}
    with open_text(path) as handle:
        for number, line in enumerate(handle, 1):
            docid, sep, text = line.rstrip("\n").partition("\t")
            if not sep:
                raise DataError(f"{path} line {number}: expected 'docid<TAB>text'")
            docs[docid] = text
    if not docs:
        raise DataError(f"{path}: the corpus is empty")
    return docs


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
    corpus_path = Path(fields["corpus"])
    is_jsonl = ".jsonl" in corpus_path.name
    docs = read_beir_corpus(corpus_path) if is_jsonl else _read_tsv_corpus(corpus_path)
    return Collection(
        name=Path(fields["topics"]).stem,
        docs=docs,
        queries=read_trec_topics(Path(fields["topics"])),
        qrels={fields.get("split", "test"): read_trec_qrels(Path(fields["qrels"]))},
        source="trec:" + reference,
    )


def load_irds(dataset_id: str) -> Collection:
    """Load through ir_datasets; offline without a cache this fails in one line naming the id."""
    try:
        import ir_datasets

        dataset = ir_datasets.load(dataset_id)
        docs = {d.doc_id: " ".join(str(getattr(d, f, "") or "") for f in ("title", "text") if hasattr(d, f)).strip()
                or d.default_text() for d in dataset.docs_iter()}
        queries = {q.query_id: q.default_text() for q in dataset.queries_iter()}
        qrels: Qrels = {}
        for judgement in dataset.qrels_iter():
            qrels.setdefault(judgement.query_id, {})[judgement.doc_id] = int(judgement.relevance)
    except KeyError:
        raise DataError(f"unknown ir_datasets id {dataset_id!r}") from None
    except Exception as exc:  # ir_datasets raises many kinds of network / cache errors
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise DataError(
            f"dataset irds:{dataset_id} could not be loaded: it needs network access or a filled "
            f"ir_datasets cache (~/.ir_datasets) ({reason})"
        ) from None
    return Collection(name=dataset_id, docs=docs, queries=queries, qrels={"test": qrels}, source=f"irds:{dataset_id}")


@lru_cache(maxsize=8)
def load_collection(reference: str) -> Collection:
    """Resolve a dataset reference (see the module docstring) into a Collection; cached per process."""
    if reference in BUILTIN:
        collection = load_beir_folder(BUILTIN_DIR / reference, reference)
        collection.source = f"builtin:{reference}"
        return collection
    if reference.startswith("beir:"):
        return load_beir_folder(Path(reference[5:]).expanduser())
    if reference.startswith("trec:"):
        return load_trec(reference[5:])
    if reference.startswith("irds:"):
        return load_irds(reference[5:])
    if Path(reference).expanduser().is_dir():
        return load_beir_folder(Path(reference).expanduser())
    known = ", ".join(BUILTIN)
    raise DataError(f"unknown dataset {reference!r} (built-in: {known}; or beir:<folder>, trec:..., irds:<id>)")
