"""Defence tasks: certification of top-K robustness and detection of adversarial documents.

Certifiers and detectors are looked up by name in the registry (`robustness.certifiers`,
`robustness.detectors` entry points; DESIGN §9), so these tasks never import an
implementation; the protocols they rely on are in `robustness.protocols.defense`.

- certification: each sampled query's top-`list_size` list goes to the certifier, which says
  at which K it is certified under each of its rules; figures are CRQ@K (share of certified
  queries) per rule, and the smoothed ranker's effectiveness next to the base ranker's on the
  same lists when the certifier reports smoothed scores.
- detection: attacks produce adversarial documents on Easy-5 / Hard-5 targets; the detector
  scores them and the clean documents of the same lists; figures are ROC AUC, the mean score
  of each side, and with a threshold the detection rate and the false-positive rate. A
  detector that learns from the collection (`fit`) sees it without the scored lists'
  documents: a language model fitted on a clean document would tell it from any edited copy
  by memory alone.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from robustness.config import ComponentSpec
from robustness.errors import ConfigError
from robustness.metrics import HEADLINE, certified_rates, mean_effectiveness, ranked
from robustness.protocols.attack import AttackSetup, set_up_attack
from robustness.protocols.defense import detection_figures, fit_held_out
from robustness.protocols.evaluation import evaluate_attack
from robustness.registry import check_params, make
from robustness.report.significance import compare_runs
from robustness.tasks.base import TaskContext

DEFAULT_KS = (*range(1, 11), *range(20, 100, 10))
"""CertDR's K values: 1..10, 20, 30, ..., 90 (capped at the list size)."""


def _sample(ctx: TaskContext, task: str, ranker_name: str, min_list: int, limit: int | None) -> list[str]:
    run = ctx.results[ranker_name].run
    ids = sorted(q for q in ctx.queries if len(run.get(q, {})) >= min_list)
    if limit is not None and limit < len(ids):
        ids = sorted(ctx.rng(task, "queries").sample(ids, limit))
    return ids


class CertificationTask:
    """Certified top-K robustness of each ranker (CRQ@K per rule of the certifier).

    - `certifier`: a registered certifier and its params;
    - `max_queries`: a seeded sample of queries (30);
    - `list_size`: how many of the ranker's top documents are certified (20);
    - `ks`: the K values (default 1..10, 20, ..., 90, capped at `list_size`).
    """

    name = "certification"

    def __init__(
        self,
        certifier: ComponentSpec | str,
        max_queries: int | None = 30,
        list_size: int = 20,
        ks: Sequence[int] = DEFAULT_KS,
    ) -> None:
        self.certifier = ComponentSpec(name=certifier) if isinstance(certifier, str) else certifier
        check_params("certifier", self.certifier.name, self.certifier.params, where="certification certifier.params")
        if list_size < 2:
            raise ConfigError(f"certification list_size must be >= 2, got {list_size}")
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"certification max_queries must be >= 1 or null, got {max_queries}")
        self.ks = sorted({int(k) for k in ks if 1 <= int(k) < list_size})
        if not self.ks:
            raise ConfigError(f"certification ks must include a K in [1, {list_size - 1}] (list_size {list_size})")
        self.max_queries = max_queries
        self.list_size = list_size

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        certifier = make("certifier", self.certifier.name, self.certifier.params, where="certification certifier.params")
        engine = ctx.engine(ranker_name)
        run = ctx.results[ranker_name].run
        qids = _sample(ctx, self.name, ranker_name, self.list_size, self.max_queries)
        if not qids:
            raise ConfigError(f"certification: no query has {self.list_size} candidates (lower list_size)")
        certified: dict[str, list[list[int]]] = {}
        smoothed: dict[str, dict[str, float]] = {}
        figures: dict[str, list[float]] = {}
        per_query_records: dict[str, Any] = {}
        for qid in qids:
            top = ranked(run[qid])[: self.list_size]
            certificate = certifier.certify(ctx.queries[qid], [ctx.collection.docs[d] for d in top], self.ks, engine, ctx.rng(self.name, ranker_name))
            for rule, ks in certificate.certified.items():
                certified.setdefault(rule, []).append(list(ks))
            for key, value in certificate.figures.items():
                figures.setdefault(key, []).append(float(value))
            if certificate.scores is not None:
                smoothed[qid] = dict(zip(top, map(float, certificate.scores)))
            per_query_records[qid] = {"certified": certificate.certified, **certificate.figures}
        summary: dict[str, Any] = {rule: {f"crq@{k}": v for k, v in certified_rates(lists, self.ks).items()} for rule, lists in certified.items()}
        if figures:
            summary["mean figures"] = {key: float(np.mean(values)) for key, values in figures.items()}
        if smoothed:
            summary["effectiveness"] = self._effectiveness(ctx, run, smoothed)
        return {"summary": summary, "per_query": per_query_records, "n_queries": len(qids), "list_size": self.list_size, "ks": self.ks}

    def _effectiveness(self, ctx: TaskContext, run: Mapping[str, Mapping[str, float]], smoothed: dict[str, dict[str, float]]) -> dict[str, float]:
        """nDCG@10 of the base ranker and of the smoothed ranker on the same certified lists."""
        base = {q: {d: run[q][d] for d in smoothed[q]} for q in smoothed}
        qrels = {q: ctx.qrels[q] for q in smoothed}
        before = mean_effectiveness(ctx.evaluate(qrels, base, [HEADLINE]))[HEADLINE]
        after = mean_effectiveness(ctx.evaluate(qrels, smoothed, [HEADLINE]))[HEADLINE]
        report, _ = compare_runs(qrels, {"base": base, "smoothed": smoothed}, [HEADLINE], ctx.significance, seed=ctx.seed)
        return {f"{HEADLINE}_base": before, f"{HEADLINE}_smoothed": after, "p_value": float(report["base"]["comparisons"]["smoothed"][HEADLINE])}

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        rules = [(rule, v) for rule, v in figures["summary"].items() if isinstance(v, Mapping) and "crq@1" in v]
        if not rules:
            return None
        rule, values = rules[-1]
        return f"CRQ@1 % ({rule})", values["crq@1"]


class DetectionTask:
    """Detection of adversarial documents: ROC AUC against the clean documents of the same lists.

    - `detector`: a registered detector and its params, or a list of them (each scores the same
      adversarial and clean documents; rows are then named "attack · detector");
    - `attacks`: attacks whose outputs are to be detected (default: Query+ at the start);
    - `max_queries`: attacked queries, sampled among those with a full list (30);
    - `groups`: target groups (easy, hard).
    """

    name = "detection"

    def __init__(
        self,
        detector: ComponentSpec | str | list[ComponentSpec | str],
        attacks: Sequence[ComponentSpec | str] = (ComponentSpec(name="keyword_stuffing", params={"position": "start"}),),
        max_queries: int | None = 30,
        groups: Sequence[str] = ("easy", "hard"),
    ) -> None:
        listed = detector if isinstance(detector, list) else [detector]
        self.detectors = [ComponentSpec(name=d) if isinstance(d, str) else d for d in listed]
        if not self.detectors:
            raise ConfigError("detection needs at least one detector")
        for i, spec in enumerate(self.detectors):
            check_params("detector", spec.name, spec.params, where=f"detection detector.{i}.params" if len(listed) > 1 else "detection detector.params")
        self.attacks = [ComponentSpec(name=a) if isinstance(a, str) else a for a in attacks]
        if not self.attacks:
            raise ConfigError("detection needs at least one attack")
        for i, attack in enumerate(self.attacks):
            check_params("attack", attack.name, attack.params, where=f"detection attacks.{i}.params")
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"detection max_queries must be >= 1 or null, got {max_queries}")
        self.max_queries = max_queries
        self.groups = tuple(groups)

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        detectors = [make("detector", d.name, d.params, where="detection detector.params") for d in self.detectors]
        run = ctx.results[ranker_name].run
        qids = _sample(ctx, self.name, ranker_name, ctx.candidates_k, self.max_queries)
        fit_held_out(detectors, ctx.collection, {d for q in qids for d in run[q]})
        queries = {q: ctx.queries[q] for q in qids}
        relevant = {q: {d for d, g in ctx.qrels[q].items() if g > 0} for q in qids}
        summary: dict[str, Any] = {}
        for i, spec in enumerate(self.attacks):
            attack = make("attack", spec.name, spec.params, where=f"detection attacks.{i}.params")
            set_up_attack(attack, AttackSetup(ranker_name, ctx.engine(ranker_name), ctx.collection, ctx.seed, ctx.candidates_k, ctx.progress, ctx.device))
            results = evaluate_attack(
                ctx.engine(ranker_name), attack, queries, run, ctx.collection.docs, relevant,
                lambda *salt: ctx.rng(self.name, ranker_name, *salt), groups=self.groups,
                progress=ctx.progress, list_size=ctx.candidates_k,
            )
            targets = {(r.query_id, r.doc_id) for r in results}
            clean = [(q, d) for q in qids for d in run[q] if (q, d) not in targets]
            for detector in detectors:
                key = attack.name if len(detectors) == 1 else f"{attack.name} · {detector.name}"
                summary[key] = detection_figures(detector, [(queries[r.query_id], r.adversarial_text) for r in results], [(queries[q], ctx.collection.docs[d]) for q, d in clean])
        return {"summary": summary, "n_queries": len(qids)}

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        aucs = [v["auc"] for v in figures["summary"].values()]
        return ("mean detection AUC", float(np.mean(aucs))) if aucs else None

