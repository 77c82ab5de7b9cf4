"""The adversarial-ranking protocol shared by robustness tasks 4 and 5 and every attack.

Protocol (IDEM / PRADA / MARA family, DESIGN §8): the victim re-ranks a query's top-100
candidates; targets are Easy-5 (one document from each 10-rank bin of ranks 51–100) and
Hard-5 (the last five of the list); an attack rewrites a target's text; its new rank is found
by scoring the rewritten text and inserting that score into the victim's original scores for
the other documents. Attacks live in `robustness.attacks`; the types they receive and return
are in `robustness.protocols.attack`; this module selects targets and evaluates attacks.
"""

from __future__ import annotations

import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

import numpy as np

from robustness.engine import ScoringEngine
from robustness.errors import ConfigError, RobustnessError
from robustness.metrics import attack_summary, perturbation_fraction, rank_by_insertion, ranked
from robustness.protocols.attack import Attack, AttackOutcome, Target, Victim

TARGET_GROUPS = ("easy", "hard")


@dataclass
class AttackResult:
    """One (query, target) record, as written to results.json."""

    attack: str
    query_id: str
    doc_id: str
    group: str
    old_rank: int
    new_rank: int
    pp: float
    victim_queries: int
    seconds: float
    edits: list[dict[str, Any]]
    adversarial_text: str
    ss: float | None = None
    wss: float | None = None  # lowest windowed similarity around an edit (TextFooler's measure)


def select_targets(order: Sequence[str], rng: random.Random, exclude: set[str] = frozenset(), list_size: int = 100) -> dict[str, list[tuple[str, int]]]:
    """Easy-5 and Hard-5 targets of a full ranked list, as (doc id, 1-based rank).

    Hard-5: the last five of the list; Easy-5: one random document from each of five equal
    bins of the list's lower half (ranks 51–100 in 10-rank bins for the papers' top-100),
    never one of the Hard-5, so the two groups are disjoint and "all" counts every target
    once. Judged-relevant documents (`exclude`) are not promoted: the attacks push irrelevant
    content up. A list shorter than `list_size` yields no targets (its ranks are not comparable).
    """
    if len(order) < list_size or list_size < 10:
        return {"easy": [], "hard": []}
    eligible = [(doc, rank) for rank, doc in enumerate(order[:list_size], 1) if doc not in exclude]
    hard = eligible[-5:]
    hard_docs = {doc for doc, _ in hard}
    half = list_size // 2
    bin_size = (list_size - half) // 5
    easy: list[tuple[str, int]] = []
    for start in range(half + 1, half + 1 + 5 * bin_size, bin_size):
        in_bin = [item for item in eligible if start <= item[1] < start + bin_size and item[0] not in hard_docs]
        if in_bin:
            easy.append(rng.choice(in_bin))
    return {"easy": easy, "hard": hard}


def evaluate_attack(
    engine: ScoringEngine,
    attack: Attack,
    queries: dict[str, str],
    rankings: dict[str, dict[str, float]],
    docs: dict[str, str],
    relevant: dict[str, set[str]],
    make_rng: Callable[..., random.Random],
    groups: Sequence[str] = TARGET_GROUPS,
    victim_budget: int | None = None,
    similarity: Callable[[list[str], list[str]], np.ndarray] | None = None,
    progress: bool = True,
    list_size: int = 100,
) -> list[AttackResult]:
    """Attack every Easy-5/Hard-5 target of every query; new ranks by insertion, scored in one call.

    Queries whose candidate list is shorter than `list_size` are skipped; if that leaves no
    target at all, the run fails with a message rather than reporting empty figures.
    """
    unknown = set(groups) - set(TARGET_GROUPS)
    if unknown:
        raise ConfigError(f"unknown target group(s) {sorted(unknown)} (known: easy, hard)")
    jobs: list[tuple[Target, np.ndarray]] = []
    for qid in sorted(queries):
        scores = rankings[qid]
        order = ranked(scores)
        chosen = select_targets(order, make_rng("targets", qid), relevant.get(qid, set()), list_size)
        for group in groups:
            for doc_id, rank in chosen[group]:
                others = np.array([scores[d] for d in order if d != doc_id])
                jobs.append((Target.single(qid, queries[qid], doc_id, docs[doc_id], rank, group), others))
    if not jobs:
        raise RobustnessError(
            f"no attack targets: none of the {len(queries)} queries has a full list of {list_size} candidates "
            f"(targets come from ranks {list_size // 2 + 1}-{list_size}; use candidates_k >= 10)"
        )

    outcomes: list[tuple[AttackOutcome, int, float]] = []
    iterator = jobs
    if progress and jobs:
        from tqdm.auto import tqdm

        iterator = tqdm(jobs, desc=f"attack {attack.name}", unit="target", leave=False)
    for target, others in iterator:
        victim = Victim(engine, [target.query], [others], victim_budget)
        started = time.perf_counter()
        outcome = attack.attack(target, victim, make_rng("attack", attack.name, target.query_id, target.doc_id))
        outcomes.append((outcome, victim.queries_used, time.perf_counter() - started))

    final = engine.score([t.query for t, _ in jobs], [o.text for o, _, _ in outcomes], desc=f"evaluating {attack.name}")
    ss = similarity([t.text for t, _ in jobs], [o.text for o, _, _ in outcomes]) if similarity and jobs else None
    wss = _window_similarities(attack.name, similarity, jobs, outcomes)
    results = []
    for i, ((target, others), (outcome, used, seconds)) in enumerate(zip(jobs, outcomes)):
        results.append(AttackResult(
            attack=attack.name, query_id=target.query_id, doc_id=target.doc_id, group=target.group,
            old_rank=target.old_rank, new_rank=rank_by_insertion(others, final[i]),
            pp=perturbation_fraction(target.text, outcome.text), victim_queries=used, seconds=seconds,
            edits=[edit.as_record() for edit in outcome.edits], adversarial_text=outcome.text, ss=None if ss is None else float(ss[i]),
            wss=None if wss is None else wss[i],
        ))
    return results


def _window_similarities(name: str, similarity: Any, jobs: Sequence[tuple[Target, np.ndarray]], outcomes: Sequence[tuple[AttackOutcome, int, float]]) -> list[float] | None:
    """Per target, the lowest windowed similarity around its edits, when a sentence encoder is
    given; an attack whose edits do not replay to its text breaks the protocol (one line)."""
    if similarity is None or not hasattr(similarity, "encode"):
        return None
    from robustness.text.similarity import WindowedSimilarity, window_similarity

    windowed = WindowedSimilarity(similarity)
    try:
        return [window_similarity(windowed, target.text, outcome.text, outcome.edits) for (target, _), (outcome, _, _) in zip(jobs, outcomes)]
    except ValueError as exc:
        raise RobustnessError(f"attack {name!r}: its edit records do not replay to its adversarial text ({exc})") from None


def summarise(results: Sequence[AttackResult]) -> dict[str, dict[str, float]]:
    """Attack figures per target group (and "all"): ASR, Boost, TkR, ≤k, PP, SS, windowed SS (wss), victim queries."""
    summary: dict[str, dict[str, float]] = {}
    for group in (*TARGET_GROUPS, "all"):
        chosen = [r for r in results if group in ("all", r.group)]
        if not chosen:
            continue
        figures = attack_summary([r.old_rank for r in chosen], [r.new_rank for r in chosen], [r.pp for r in chosen])
        if all(r.ss is not None for r in chosen):
            figures["ss"] = float(np.mean([r.ss for r in chosen]))
        if all(r.wss is not None for r in chosen):
            figures["wss"] = float(np.mean([r.wss for r in chosen]))
        figures["victim_queries"] = float(np.mean([r.victim_queries for r in chosen]))
        summary[group] = figures
    return summary


def records(results: Sequence[AttackResult]) -> list[dict[str, Any]]:
    return [asdict(r) for r in results]
