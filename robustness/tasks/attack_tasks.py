"""Tasks 4 and 5 — defence against adversarial operations (Wu et al., TOIS 2022).

Both run attacks under the protocol of `robustness.protocols.evaluation` on a seeded sample of
test queries and report the attack figures per target group (Easy-5, Hard-5, all). Attacks are
looked up by name in the registry (`robustness.attacks` entry points), so these tasks never
import an attack.

- adv_spam: keyword stuffing ("Query+") at the start, the end, and repeated; also how much the
  stuffed documents degrade the ranking of the truly relevant ones (nDCG@10 before/after).
- adv_substitution: word-substitution attacks (PRADA and baselines).
- adv_attacks: any registered attacks side by side on the same targets (e.g. the imitation
  attack PAT beside random triggers, keyword stuffing and PRADA).

With `detectors`, each attack also gets a "<attack> detection" row: how well each detector
tells the adversarial documents from the clean ones of the same lists (as the detection task
measures it), and the mean score of the inserted text alone (a trigger, stuffed query words).
"""

from __future__ import annotations

from typing import Any, Literal, Mapping, Sequence

import numpy as np

from robustness.config import ComponentSpec
from robustness.errors import ConfigError
from robustness.metrics import HEADLINE, mean_effectiveness
from robustness.protocols.attack import AttackSetup, set_up_attack
from robustness.protocols.defense import Detector, detection_figures, fit_held_out
from robustness.protocols.evaluation import AttackResult, evaluate_attack, records, summarise
from robustness.registry import check_params, make
from robustness.tasks.base import RunDict, TaskContext

TargetGroup = Literal["easy", "hard"]


class AttackTask:
    """Runs attacks on Easy-5 / Hard-5 targets of a seeded sample of queries (`adv_attacks`).

    - `attacks`: registered attack names with their params ({name, params} or a bare name);
    - `max_queries`: attacked queries, sampled among those with a full candidate list (50);
    - `groups`: target groups (easy, hard);
    - `victim_budget`: most victim queries per target (None: the attacks' own limits);
    - `semantic_similarity`: measure SS of original and adversarial documents (costs an
      encoder pass per target);
    - `detectors`: registered detectors ({name, params} or a bare name) that score every
      attack's documents, fitted without the attacked lists' documents (none by default).
    """

    name = "adv_attacks"

    def __init__(
        self,
        attacks: Sequence[ComponentSpec | str],
        max_queries: int | None = 50,
        groups: Sequence[TargetGroup] = ("easy", "hard"),
        victim_budget: int | None = None,
        semantic_similarity: bool = False,
        detectors: Sequence[ComponentSpec | str] = (),
    ) -> None:
        if max_queries is not None and max_queries < 1:
            raise ConfigError(f"{self.name} max_queries must be >= 1 or null, got {max_queries}")
        if victim_budget is not None and victim_budget < 1:
            raise ConfigError(f"{self.name} victim_budget must be >= 1 or null, got {victim_budget}")
        if not attacks:
            raise ConfigError(f"{self.name} needs at least one attack")
        self.attacks = [ComponentSpec(name=a) if isinstance(a, str) else a for a in attacks]
        for i, attack in enumerate(self.attacks):  # fail before any model runs, not mid-run
            check_params("attack", attack.name, attack.params, where=f"{self.name} attacks.{i}.params")
        self.detectors = [ComponentSpec(name=d) if isinstance(d, str) else d for d in detectors]
        for i, spec in enumerate(self.detectors):
            check_params("detector", spec.name, spec.params, where=f"{self.name} detectors.{i}.params")
        self.max_queries = max_queries
        self.groups = tuple(groups)
        self.victim_budget = victim_budget
        self.semantic_similarity = semantic_similarity
        self._similarity = None

    def _similarity_fn(self, ctx: TaskContext):
        if not self.semantic_similarity:
            return None
        if self._similarity is None:
            from robustness.text.similarity import SentenceSimilarity

            self._similarity = SentenceSimilarity(device=ctx.device)
        return self._similarity

    def _queries(self, ctx: TaskContext, run: RunDict) -> tuple[dict[str, str], int]:
        """A seeded sample of `max_queries` among the queries whose candidate list is full, and
        how many were left out for a short list: Easy-5/Hard-5 ranks are defined on a full
        top-`candidates_k` list, and `max_queries` is the number of queries attacked."""
        ids = sorted(q for q in ctx.queries if len(run.get(q, {})) >= ctx.candidates_k)
        short = len(ctx.queries) - len(ids)
        if self.max_queries is not None and self.max_queries < len(ids):
            ids = sorted(ctx.rng(self.name, "queries").sample(ids, self.max_queries))
        return {q: ctx.queries[q] for q in ids}, short

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        run = ctx.results[ranker_name].run
        queries, short = self._queries(ctx, run)
        relevant = {q: {d for d, g in ctx.qrels[q].items() if g > 0} for q in queries}
        summary: dict[str, Any] = {}
        details: dict[str, Any] = {}
        detectors = [make("detector", d.name, d.params, where=f"{self.name} detectors.{i}.params") for i, d in enumerate(self.detectors)]
        if detectors:  # the held-out copy of a large corpus is not free
            fit_held_out(detectors, ctx.collection, {d for q in queries for d in run[q]})
        for i, spec in enumerate(self.attacks):
            attack = make("attack", spec.name, spec.params, where=f"{self.name} attacks.{i}.params")
            setup_figures = set_up_attack(attack, AttackSetup(ranker_name, ctx.engine(ranker_name), ctx.collection, ctx.seed, ctx.candidates_k, ctx.progress, ctx.device))
            results = evaluate_attack(
                ctx.engine(ranker_name), attack, queries, run, ctx.collection.docs, relevant,
                lambda *salt: ctx.rng(self.name, ranker_name, *salt),
                groups=self.groups,
                victim_budget=self.victim_budget,
                progress=ctx.progress,
                list_size=ctx.candidates_k,
                similarity=self._similarity_fn(ctx),
            )
            for group, figures in summarise(results).items():
                summary[f"{attack.name} {group}"] = figures
            extra = self._extra(ctx, ranker_name, queries, results)
            if extra:
                summary[f"{attack.name} ranking"] = extra
            if setup_figures:
                summary[f"{attack.name} setup"] = setup_figures
            if detectors:
                summary[f"{attack.name} detection"] = _detection(detectors, queries, run, ctx.collection.docs, results)
            details[attack.name] = {"records": records(results), **extra, "setup": setup_figures}
        return {"summary": summary, "details": details, "n_queries": len(queries), "n_short_lists": short}

    def _extra(self, ctx: TaskContext, ranker_name: str, queries: Mapping[str, str], results: list) -> dict[str, Any]:
        return {}

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        hard = [(k, v) for k, v in figures["summary"].items() if k.endswith(" hard")]
        if not hard:
            return None
        key, values = hard[0]
        return f"ASR % ({key})", values["asr"]


def _detection(detectors: Sequence[Detector], queries: Mapping[str, str], run: RunDict, docs: Mapping[str, str], results: Sequence[AttackResult]) -> dict[str, float]:
    """Per detector (keys "<detector> <figure>", flat so the report shows one row per attack):
    `detection_figures` of the adversarial documents against the other documents of the
    attacked lists, and, when the attack inserted text, "<detector> inserted": the mean score
    of each record's inserted text alone (its insert edits joined with a space)."""
    targets = {(r.query_id, r.doc_id) for r in results}
    adversarial = [(queries[r.query_id], r.adversarial_text) for r in results]
    clean = [(queries[q], docs[d]) for q in queries for d in run[q] if (q, d) not in targets]
    inserted = [(queries[r.query_id], " ".join(e["new"] for e in r.edits if e["kind"] == "insert")) for r in results if any(e["kind"] == "insert" for e in r.edits)]
    figures: dict[str, float] = {}
    for detector in detectors:
        figures.update({f"{detector.name} {key}": float(value) for key, value in detection_figures(detector, adversarial, clean).items()})
        if inserted:
            figures[f"{detector.name} inserted"] = float(np.mean(detector.score([q for q, _ in inserted], [text for _, text in inserted])))
    return figures


STUFFING = (
    ComponentSpec(name="keyword_stuffing", params={"position": "start"}),
    ComponentSpec(name="keyword_stuffing", params={"position": "end"}),
    ComponentSpec(name="keyword_stuffing", params={"position": "repeat"}),
)


class SpamTask(AttackTask):
    """4. adversarial: document manipulation by keyword stuffing (Query+ at the start, end, repeated)."""

    name = "adv_spam"

    def __init__(
        self,
        attacks: Sequence[ComponentSpec | str] = STUFFING,
        max_queries: int | None = 50,
        groups: Sequence[TargetGroup] = ("easy", "hard"),
        victim_budget: int | None = None,
        semantic_similarity: bool = False,
        detectors: Sequence[ComponentSpec | str] = (),
    ) -> None:
        super().__init__(attacks, max_queries, groups, victim_budget, semantic_similarity, detectors)

    def _extra(self, ctx: TaskContext, ranker_name: str, queries: Mapping[str, str], results: list) -> dict[str, Any]:
        """nDCG@10 of the real relevant documents once every stuffed target is in the list."""
        run = ctx.results[ranker_name].run
        engine = ctx.engine(ranker_name)
        attacked = {q: dict(run[q]) for q in queries}
        scores = engine.score([queries[r.query_id] for r in results], [r.adversarial_text for r in results])
        for record, score in zip(results, scores):
            attacked[record.query_id][record.doc_id] = float(score)
        qrels = {q: ctx.qrels[q] for q in queries}
        before = mean_effectiveness(ctx.evaluate(qrels, {q: run[q] for q in queries}, [HEADLINE]))[HEADLINE]
        after = mean_effectiveness(ctx.evaluate(qrels, attacked, [HEADLINE]))[HEADLINE]
        return {f"{HEADLINE}_before": before, f"{HEADLINE}_after": after}


class SubstitutionTask(AttackTask):
    """5. adversarial: word-substitution perturbation (PRADA against random substitution by default)."""

    name = "adv_substitution"

    def __init__(
        self,
        attacks: Sequence[ComponentSpec | str] = (ComponentSpec(name="prada"), ComponentSpec(name="random_substitution")),
        max_queries: int | None = 50,
        groups: Sequence[TargetGroup] = ("easy", "hard"),
        victim_budget: int | None = None,
        semantic_similarity: bool = True,
        detectors: Sequence[ComponentSpec | str] = (),
    ) -> None:
        super().__init__(attacks, max_queries, groups, victim_budget, semantic_similarity, detectors)
