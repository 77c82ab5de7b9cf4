"""Query groups and their targets, for topic-oriented attacks (TARA, DESIGN §8.2).

A topic attack promotes one document for a whole group of queries on one topic with a single
perturbation. Groups come from three places:

- the data: a topic file mapping topic ids to query ids (`read_topic_file`: TSV
  "topic<TAB>query" lines, or a JSON object {topic: [query ids]});
- clustering: seeded k-means (k-means++ start) over sentence embeddings of the queries
  (`cluster_queries`); clusters smaller than `min_size` are dropped, not padded;
- expansion: a seed query and its variations from the query-variation generators
  (`expand_query`), which stand for the same information need asked differently.

A group's targets follow the Easy-5 / Hard-5 protocol applied to the group: a document's group
rank is its mean rank over the group's queries (`group_targets`); documents judged relevant to
any query of the group are never targets. `evaluate_group_attack` attacks them through a
counted `Victim` of the whole group and reports topic figures (`summarise_groups`).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from robustness.engine import ScoringEngine
from robustness.errors import ConfigError, DataError
from robustness.metrics import perturbation_fraction, rank_by_insertion, topic_summary
from robustness.protocols.attack import Attack, Target, Victim


@dataclass(frozen=True)
class QueryGroup:
    """Queries on one topic, attacked together."""

    id: str
    query_ids: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.query_ids or len(set(self.query_ids)) != len(self.query_ids):
            raise ValueError(f"query group {self.id!r} needs distinct query ids, got {self.query_ids!r}")


def read_topic_file(path: str | Path, known: Sequence[str], min_size: int = 1) -> list[QueryGroup]:
    """Groups from a topic file; one DataError line for a missing file, a malformed line or an
    unknown query id. Groups with fewer than `min_size` known queries are dropped."""
    source = Path(path)
    if not source.is_file():
        raise DataError(f"topic file not found: {source}")
    text = source.read_text(encoding="utf-8")
    members: dict[str, list[str]] = {}
    if source.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})") from None
        if not isinstance(data, dict) or not all(isinstance(v, list) for v in data.values()):
            raise DataError(f"{source}: expected a JSON object {{topic id: [query ids]}}")
        members = {str(topic): [str(q) for q in ids] for topic, ids in data.items()}
    else:
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            fields = line.rstrip("\n").split("\t")
            if len(fields) != 2:
                raise DataError(f"{source} line {number}: expected 2 tab-separated fields 'topic-id query-id', got {len(fields)}")
            members.setdefault(fields[0], []).append(fields[1])
    known_ids = set(known)
    unknown = sorted({q for ids in members.values() for q in ids} - known_ids)
    if unknown:
        raise DataError(f"{source}: {len(unknown)} query id(s) not in the collection's split (first: {unknown[0]!r})")
    groups = [QueryGroup(topic, tuple(dict.fromkeys(ids))) for topic, ids in sorted(members.items())]
    return [g for g in groups if len(g.query_ids) >= min_size]


def kmeans(vectors: np.ndarray, k: int, rng: np.random.Generator, iterations: int = 100) -> np.ndarray:
    """Cluster labels of `vectors` (n × d) by Lloyd's k-means from a k-means++ start; every
    random choice comes from `rng`, so a seed fixes the clustering."""
    n = len(vectors)
    if not 1 <= k <= n:
        raise ConfigError(f"k-means needs 1 <= k <= {n} points, got k={k}")
    centres = [vectors[rng.integers(n)]]
    for _ in range(1, k):
        distance = np.min([((vectors - c) ** 2).sum(axis=1) for c in centres], axis=0)
        total = distance.sum()
        centres.append(vectors[rng.choice(n, p=distance / total)] if total > 0 else vectors[rng.integers(n)])
    means = np.array(centres)
    labels = np.full(n, -1)
    for _ in range(iterations):
        distance = ((vectors[:, None, :] - means[None, :, :]) ** 2).sum(axis=2)
        new = distance.argmin(axis=1)
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            if np.any(labels == j):
                means[j] = vectors[labels == j].mean(axis=0)
    return labels


def cluster_queries(
    queries: Mapping[str, str], n_groups: int, embed: Callable[[list[str]], np.ndarray], seed: int, min_size: int = 4
) -> list[QueryGroup]:
    """`n_groups` seeded k-means clusters of the queries' embeddings (`embed(texts)` → n × d),
    those with at least `min_size` queries, named "cluster-<j>" in order of their first query."""
    ids = sorted(queries)
    if n_groups > len(ids):
        raise ConfigError(f"cannot make {n_groups} query groups from {len(ids)} queries")
    labels = kmeans(np.asarray(embed([queries[q] for q in ids]), dtype=np.float64), n_groups, np.random.default_rng(seed))
    members: dict[int, list[str]] = {}
    for qid, label in zip(ids, labels.tolist()):
        members.setdefault(label, []).append(qid)
    ordered = sorted(members.values(), key=lambda group: group[0])
    return [QueryGroup(f"cluster-{j}", tuple(group)) for j, group in enumerate(ordered) if len(group) >= min_size]


def expand_query(
    query_id: str, query: str, variations: Mapping[str, Callable[..., str]], rng: random.Random
) -> tuple[QueryGroup, dict[str, str]]:
    """A group of the seed query and one variant per generator ("<id>~<generator>"); a
    generator that cannot change the query, or repeats another variant, adds nothing."""
    texts = {query_id: query}
    seen = {query}
    for name, vary in variations.items():
        variant = vary(query, rng)
        if variant not in seen:
            texts[f"{query_id}~{name}"] = variant
            seen.add(variant)
    return QueryGroup(f"expanded-{query_id}", tuple(texts)), texts


def group_targets(
    ranks: Mapping[str, Sequence[int]], rng: random.Random, exclude: set[str] = frozenset(), list_size: int = 100
) -> dict[str, list[tuple[str, tuple[int, ...]]]]:
    """Easy-5 and Hard-5 targets of a group, as (doc id, its rank in each query's list).

    `ranks[d]` is document d's rank in each query's list of the group (aligned with the group's
    queries). The group rank is the mean: Hard-5 are the five with the worst group rank; Easy-5
    one random document from each of five equal bins of group rank over the lower half
    ((list_size/2, list_size], ties by document id), never a Hard-5 one. Documents in
    `exclude` (judged relevant to a query of the group) are never chosen."""
    eligible = sorted(((float(np.mean(r)), d) for d, r in ranks.items() if d not in exclude))
    hard = [d for _, d in eligible[-5:]]
    half = list_size // 2
    bin_size = (list_size - half) / 5
    easy: list[str] = []
    for j in range(5):
        low, high = half + j * bin_size, half + (j + 1) * bin_size
        in_bin = [d for mean, d in eligible if low < mean <= high and d not in hard]
        if in_bin:
            easy.append(rng.choice(in_bin))
    return {"easy": [(d, tuple(ranks[d])) for d in easy], "hard": [(d, tuple(ranks[d])) for d in hard]}


@dataclass
class GroupAttackResult:
    """One (query group, target) record: the target's rank in each query's list before and after."""

    attack: str
    group_id: str
    doc_id: str
    group: str  # target group: easy or hard
    query_ids: list[str]
    old_ranks: list[int]
    new_ranks: list[int]
    pp: float
    victim_queries: int
    seconds: float
    edits: list[dict]
    adversarial_text: str


def group_ranks(
    engine: ScoringEngine, group: QueryGroup, queries: Mapping[str, str], rankings: Mapping[str, Mapping[str, float]], docs: Mapping[str, str]
) -> tuple[dict[str, tuple[int, ...]], dict[str, np.ndarray]]:
    """Every document of the group's lists, with its rank in each query's list (a document
    missing from a list is scored for that query and ranked by insertion), and each query's
    list scores. Scoring the missing pairs is the evaluator's cost, not the attacker's."""
    union = sorted({d for q in group.query_ids for d in rankings[q]})
    missing = [(q, d) for q in group.query_ids for d in union if d not in rankings[q]]
    scored = dict(zip(missing, engine.score([queries[q] for q, _ in missing], [docs[d] for _, d in missing]).tolist())) if missing else {}
    lists = {q: np.array(sorted(rankings[q].values())) for q in group.query_ids}
    ranks: dict[str, tuple[int, ...]] = {}
    for d in union:
        per_query = []
        for q in group.query_ids:
            score = rankings[q][d] if d in rankings[q] else scored[(q, d)]
            others = lists[q] if d not in rankings[q] else np.array(sorted(s for e, s in rankings[q].items() if e != d))
            per_query.append(rank_by_insertion(others, score))
        ranks[d] = tuple(per_query)
    return ranks, lists


def evaluate_group_attack(
    engine: ScoringEngine,
    attack: Attack,
    groups: Sequence[QueryGroup],
    queries: Mapping[str, str],
    rankings: Mapping[str, Mapping[str, float]],
    docs: Mapping[str, str],
    relevant: Mapping[str, set[str]],
    make_rng: Callable[..., random.Random],
    target_groups: Sequence[str] = ("easy", "hard"),
    victim_budget: int | None = None,
    list_size: int = 100,
) -> list[GroupAttackResult]:
    """Attack the Easy-5 / Hard-5 targets of every query group: one text per target, promoted
    for all the group's queries at once through a counted `Victim` of the group; new ranks by
    insertion into each query's original list. A document judged relevant to any query of
    the group is never a target."""
    results: list[GroupAttackResult] = []
    for group in groups:
        ranks, _ = group_ranks(engine, group, queries, rankings, docs)
        exclude = set().union(*(relevant.get(q, set()) for q in group.query_ids))
        chosen = group_targets(ranks, make_rng("targets", group.id), exclude, list_size)
        texts = [queries[q] for q in group.query_ids]
        for target_group in target_groups:
            for doc_id, old in chosen[target_group]:
                others = [np.array([s for d, s in rankings[q].items() if d != doc_id]) for q in group.query_ids]
                target = Target(doc_id, docs[doc_id], target_group, group.query_ids, tuple(texts), old)
                victim = Victim(engine, texts, others, victim_budget)
                started = time.perf_counter()
                outcome = attack.attack(target, victim, make_rng("attack", attack.name, group.id, doc_id))
                seconds = time.perf_counter() - started
                final = engine.score(texts, [outcome.text] * len(texts))
                results.append(GroupAttackResult(
                    attack=attack.name, group_id=group.id, doc_id=doc_id, group=target_group, query_ids=list(group.query_ids),
                    old_ranks=list(old), new_ranks=[rank_by_insertion(o, s) for o, s in zip(others, final)],
                    pp=perturbation_fraction(docs[doc_id], outcome.text), victim_queries=victim.queries_used, seconds=seconds,
                    edits=[edit.as_record() for edit in outcome.edits], adversarial_text=outcome.text,
                ))
    return results


def summarise_groups(results: Sequence[GroupAttackResult]) -> dict[str, dict[str, float]]:
    """Topic figures per target group (and "all"): topic ASR, topic boost, half improved, PP,
    victim queries per target."""
    summary: dict[str, dict[str, float]] = {}
    for name in ("easy", "hard", "all"):
        chosen = [r for r in results if name in ("all", r.group)]
        if chosen:
            figures = topic_summary([r.old_ranks for r in chosen], [r.new_ranks for r in chosen])
            figures["pp"] = float(100 * np.mean([r.pp for r in chosen]))
            figures["victim_queries"] = float(np.mean([r.victim_queries for r in chosen]))
            summary[name] = figures
    return summary
