"""Robust-training augmentations (defenses/robust_training.py): what goes into the triples.

Training itself is the project's trainer (tests/test_training.py); here: the noisy copies come
from the smoothing distribution, the adversarial documents come from an attack on training
queries only, and bad recipes fail before any training."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from robustness.config import ComponentSpec
from robustness.data import load_collection
from robustness.defenses.robust_training import attacked_training_triples, noisy_triples, robust_cross_encoder
from robustness.defenses.smoothing import SubstitutionSets
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.rankers import prepare_ranker
from robustness.rankers.bm25 import BM25Ranker
from robustness.text.tokenize import split_tokens

from test_certdr_smoothing import TinyGraph

TRIPLES = [(f"query {i}", f"Cat p0 zzz, doc {i}.", f"feline kitty p3 {i}") for i in range(10)]


def test_noisy_triples_are_smoothing_samples_of_a_seeded_share() -> None:
    sets = SubstitutionSets(TinyGraph(), max_size=3)
    extra = noisy_triples(TRIPLES, sets, random.Random(1), share=0.5)
    assert len(extra) == 5 and extra == noisy_triples(TRIPLES, sets, random.Random(1), share=0.5)
    originals = {t[0]: t for t in TRIPLES}
    for query, pos, neg in extra:
        for original, copy in ((originals[query][1], pos), (originals[query][2], neg)):
            before, after = split_tokens(original), split_tokens(copy)
            assert len(before) == len(after)
            for a, b in zip(before, after):  # each word replaced within its set, case kept, the rest as is
                assert b.lower() in sets.of(a.lower()) and (a[0].isupper() == b[0].isupper())
    assert any(pos != originals[q][1] for q, pos, _ in extra)
    with pytest.raises(ConfigError, match="share must be in"):
        noisy_triples(TRIPLES, sets, random.Random(1), share=0.0)


def test_adversarial_triples_come_from_attacks_on_training_queries_only() -> None:
    """Query+ against BM25 on SciFact train: every adversarial document is a training query's
    target with the query stuffed in, paired with that query's judged-relevant documents."""
    collection = load_collection("scifact")
    train, qrels = collection.split("train")
    test, _ = collection.split("test")
    ranker = BM25Ranker()
    prepare_ranker(ranker, collection.docs)
    engine = ScoringEngine(ranker, progress=False)
    attack = ComponentSpec(name="keyword_stuffing", params={"position": "start"})
    triples = attacked_training_triples(engine, collection, "train", attack, queries_to_attack=3, list_size=20, seed=5, progress=False)
    queries = {t[0] for t in triples}
    assert len(queries) == 3 and queries <= set(train.values()) and not queries & (set(test.values()) - set(train.values()))
    by_text = {text: qid for qid, text in train.items()}
    for query, pos, adversarial in triples:
        qid = by_text[query]
        assert pos in {collection.docs[d] for d, g in qrels[qid].items() if g > 0}
        assert adversarial.startswith(query) and adversarial not in collection.docs.values()
    for query in queries:  # each target (at most Easy-5 + Hard-5) once per relevant document
        positives = sum(g > 0 for g in qrels[by_text[query]].values())
        made = sum(t[0] == query for t in triples)
        assert made % positives == 0 and 0 < made <= 10 * positives


def test_a_bad_recipe_fails_before_training() -> None:
    with pytest.raises(ConfigError, match="unknown augmentation 'mixup'"):
        robust_cross_encoder("scifact", augmentation="mixup")
