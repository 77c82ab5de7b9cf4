"""Robust training (DESIGN §9.3): the victim recipe's triples plus perturbed copies.

Two augmentations, each trained with the project's pairwise trainer and cached like any victim:

- **noise**: for a seeded share of the triples, a copy whose two documents are drawn from
  CertDR's smoothing distribution (every word replaced by a uniform draw from its substitution
  set). A ranker that has seen smoothed documents scores them like the originals, which is
  what randomized smoothing needs: its smoothed scores stay effective and concentrated;
- **adversarial**: a registered attack is run against the plain victim on (a seeded sample of)
  the *training* queries; each adversarial document is added as the less-preferred document
  of every judged-relevant document of its query, teaching the ranker not to be fooled by that
  kind of edit. Test queries are never attacked here, so task figures stay honest.

The ranker type `robust-cross-encoder` trains on first use and then loads from the cache.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from robustness.config import ComponentSpec
from robustness.data import Collection, bm25_candidates
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.protocols.attack import AttackSetup, set_up_attack
from robustness.protocols.evaluation import AttackResult, evaluate_attack
from robustness.rankers.cross_encoder import CrossEncoderRanker
from robustness.registry import make
from robustness.text.synonyms import load_synonym_source
from robustness.text.tokenize import split_tokens
from robustness.training import Triple
from robustness.training.victims import train_on_triples, trained_cross_encoder, victim_triples

from robustness.defenses.smoothing import SubstitutionSets

AUGMENTATIONS = ("noise", "adversarial")


def noisy_triples(triples: Sequence[Triple], sets: SubstitutionSets, rng: random.Random, share: float) -> list[Triple]:
    """Smoothed copies of a seeded `share` of the triples (query kept, both documents perturbed)."""
    if not 0.0 < share <= 1.0:
        raise ConfigError(f"robust training share must be in (0, 1], got {share}")
    chosen = sorted(rng.sample(range(len(triples)), round(share * len(triples))))
    generator = np.random.default_rng(rng.getrandbits(64))
    return [(triples[i][0], *(sets.copies(split_tokens(doc), 1, generator)[0] for doc in triples[i][1:])) for i in chosen]


def adversarial_triples(results: Sequence[AttackResult], queries: Mapping[str, str], positives: Mapping[str, Sequence[str]]) -> list[Triple]:
    """(query, relevant document, adversarial document) for every attacked target that the
    attack changed (it has edits), paired with every judged-relevant document of its query."""
    return [(queries[r.query_id], pos, r.adversarial_text) for r in results if r.edits for pos in positives.get(r.query_id, ())]


def attacked_training_triples(
    engine: ScoringEngine, collection: Collection, split: str, attack: ComponentSpec, queries_to_attack: int, list_size: int, seed: int, progress: bool = True
) -> list[Triple]:
    """`attack` against the victim behind `engine` on a seeded sample of `split`'s queries with a
    judged-relevant document: Easy-5 / Hard-5 targets of their BM25 top-`list_size` lists as
    the victim orders them, each adversarial document paired with the query's relevant ones."""
    queries, qrels = collection.split(split)
    relevant = {q: {d for d, g in qrels.get(q, {}).items() if g > 0} for q in queries}
    qids = sorted(q for q in queries if relevant[q])
    chosen = {q: queries[q] for q in sorted(random.Random(seed).sample(qids, min(queries_to_attack, len(qids))))}
    rankings = engine.rerank(chosen, bm25_candidates(collection, chosen, list_size), collection.docs, desc=f"victim rankings ({split} queries)")
    attacker = make("attack", attack.name, attack.params, where="robust training attack")
    set_up_attack(attacker, AttackSetup(engine.ranker.name, engine, collection, seed, list_size, progress))
    results = evaluate_attack(
        engine, attacker, chosen, rankings, collection.docs, relevant,
        lambda *salt: random.Random("/".join(map(str, ("robust-training", seed, *salt)))), progress=progress, list_size=list_size,
    )
    return adversarial_triples(results, chosen, {q: [collection.docs[d] for d in sorted(relevant[q])] for q in chosen})


def robust_cross_encoder(
    dataset: str = "scifact",
    augmentation: str = "noise",
    share: float = 0.5,
    synonym_source: str = "combined",
    set_size: int = 100,
    attack: ComponentSpec | Mapping[str, Any] | str = "keyword_stuffing",
    queries_to_attack: int = 50,
    list_size: int = 20,
    name: str | None = None,
    device: str = "auto",
    progress: bool = True,
    **training: Any,
) -> CrossEncoderRanker:
    """The ranker type `robust-cross-encoder`: the victim recipe trained with an augmentation.

    - `augmentation`: "noise" (smoothed copies of a `share` of the triples, from
      `synonym_source` sets of at most `set_size` words) or "adversarial" (`attack` on
      `queries_to_attack` training queries, targets from their top-`list_size` lists);
    - `training`: the victim recipe's TrainConfig fields (max_length 128, seed 13 by default).
    """
    if augmentation not in AUGMENTATIONS:
        raise ConfigError(f"unknown augmentation {augmentation!r} (known: {', '.join(AUGMENTATIONS)})")
    seed = int(training.get("seed", 13))
    collection, triples = victim_triples(dataset, seed=seed)
    if augmentation == "noise":
        sets = SubstitutionSets(load_synonym_source(synonym_source), max_size=set_size)
        extra = noisy_triples(triples, sets, random.Random(f"noise/{seed}"), share)
    else:
        spec = ComponentSpec.model_validate({"name": attack} if isinstance(attack, str) else attack)
        engine = ScoringEngine(trained_cross_encoder(dataset, progress=progress, **training), progress=progress)
        extra = attacked_training_triples(engine, collection, "train", spec, queries_to_attack, list_size, seed, progress)
        if not extra:
            raise ConfigError(f"robust training: attack {spec.name!r} changed no training document, nothing to augment with")
    path = train_on_triples(f"cross-encoder-{collection.name}-{augmentation}", [*triples, *extra], "minilm", progress, **training)
    return CrossEncoderRanker(path, name=name or f"ce-{dataset}-{augmentation}", max_length=training.get("max_length", 128), device=device)
