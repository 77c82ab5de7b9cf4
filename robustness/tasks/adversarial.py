"""Tasks 4 and 5 — defence against adversarial operations (Wu et al., TOIS 2022).

Both run attacks under the protocol of `robustness.adversarial` on a seeded sample of test
queries and report the attack figures per target group (Easy-5, Hard-5, all). The attacks
come from the runner's attack factory (looked up by name), so these tasks stay independent
of the `attacks` package.

- adv_spam: keyword stuffing ("Query+") at the start, the end, and repeated; also how much the
  stuffed documents degrade the ranking of the truly relevant ones (nDCG@10 before/after).
- adv_substitution: word-substitution attacks (PRADA and baselines).
"""

from __future__ import annotations

from typing import Any, Mapping

from robustness.adversarial import AttackSetup, evaluate_attack, records, summarise
from robustness.errors import ConfigError, RobustnessError
from robustness.metrics import HEADLINE, mean_effectiveness, per_query
from robustness.tasks.base import RunDict, TaskContext


class AdversarialTask:
    name = "adversarial"
    default_attacks: list[dict[str, Any]] = []
    measure_similarity = False  # SS costs an encoder pass per target; on where it is a headline figure

    def __init__(self) -> None:
        self._similarity = None

    def _similarity_fn(self, ctx: TaskContext):
        if not ctx.params.get("semantic_similarity", self.measure_similarity):
            return None
        if self._similarity is None:
            from robustness.text.similarity import SentenceSimilarity

            self._similarity = SentenceSimilarity(device=ctx.params.get("device", "auto"))
        return self._similarity

    def _queries(self, ctx: TaskContext, run: RunDict) -> tuple[dict[str, str], int]:
        """A seeded sample of `max_queries` (default 50) among the queries whose candidate list
        is full, and how many were left out for a short list: Easy-5/Hard-5 ranks are defined
        on a full top-`candidates_k` list, and `max_queries` is the number of queries attacked."""
        limit = ctx.params.get("max_queries", 50)
        ids = sorted(q for q in ctx.queries if len(run.get(q, {})) >= ctx.candidates_k)
        short = len(ctx.queries) - len(ids)
        if limit is not None and limit < len(ids):
            ids = sorted(ctx.rng(self.name, "queries").sample(ids, limit))
        return {q: ctx.queries[q] for q in ids}, short

    def _attacks(self, ctx: TaskContext) -> list[Any]:
        if ctx.attack_factory is None:
            raise RobustnessError(f"task {self.name} needs an attack factory (run it through run_benchmark)")
        specs = ctx.params.get("attacks", self.default_attacks)
        attacks = []
        for entry in specs:
            if isinstance(entry, str):
                entry = {"name": entry}
            if "name" not in entry:
                raise ConfigError(f"task {self.name}: an attacks entry lacks 'name'")
            attacks.append(ctx.attack_factory(entry["name"], dict(entry.get("params", {}))))
        return attacks

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        run = ctx.results[ranker_name].run
        queries, short = self._queries(ctx, run)
        relevant = {q: {d for d, g in ctx.qrels[q].items() if g > 0} for q in queries}
        summary: dict[str, Any] = {}
        details: dict[str, Any] = {}
        for attack in self._attacks(ctx):
            setup_figures = {}
            if hasattr(attack, "setup"):
                setup = AttackSetup(ranker_name, ctx.engine(ranker_name), ctx.collection, ctx.seed, ctx.candidates_k, ctx.progress)
                setup_figures = attack.setup(setup) or {}
            results = evaluate_attack(
                ctx.engine(ranker_name), attack, queries, run, ctx.collection.docs, relevant,
                lambda *salt: ctx.rng(self.name, ranker_name, *salt),
                groups=ctx.params.get("groups", ("easy", "hard")),
                victim_budget=ctx.params.get("victim_budget"),
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


class SpamTask(AdversarialTask):
    name = "adv_spam"
    default_attacks = [
        {"name": "keyword_stuffing", "params": {"position": "start"}},
        {"name": "keyword_stuffing", "params": {"position": "end"}},
        {"name": "keyword_stuffing", "params": {"position": "repeat"}},
    ]

    def _extra(self, ctx: TaskContext, ranker_name: str, queries: Mapping[str, str], results: list) -> dict[str, Any]:
        """nDCG@10 of the real relevant documents once every stuffed target is in the list."""
        run = ctx.results[ranker_name].run
        engine = ctx.engine(ranker_name)
        attacked = {q: dict(run[q]) for q in queries}
        scores = engine.score([queries[r.query_id] for r in results], [r.adversarial_text for r in results])
        for record, score in zip(results, scores):
            attacked[record.query_id][record.doc_id] = float(score)
        qrels = {q: ctx.qrels[q] for q in queries}
        before = mean_effectiveness(per_query(qrels, {q: run[q] for q in queries}, [HEADLINE]))[HEADLINE]
        after = mean_effectiveness(per_query(qrels, attacked, [HEADLINE]))[HEADLINE]
        return {f"{HEADLINE}_before": before, f"{HEADLINE}_after": after}


class SubstitutionTask(AdversarialTask):
    name = "adv_substitution"
    default_attacks = [{"name": "prada"}, {"name": "random_substitution"}]
    measure_similarity = True

    def _attacks(self, ctx: TaskContext) -> list[Any]:
        try:
            return super()._attacks(ctx)
        except ConfigError as exc:
            if "unknown attack" in str(exc):
                raise RobustnessError(f"adv_substitution is not available: {exc}") from None
            raise
