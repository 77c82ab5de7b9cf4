"""Topic-oriented attacks (`adv_topic`, DESIGN §8.2): one perturbation per target, promoted for
a whole group of queries on one topic, static and dynamic.

Groups (`grouping`): "cluster" (seeded k-means over the MiniLM bi-encoder's embeddings of the
test queries whose candidate list is full; clusters of at least `min_size` queries, cut to
`max_size`), or "topics" (a topic file: `topic_file`, TSV "topic<TAB>query" or JSON). A seeded
sample of `n_groups` groups is attacked; targets are each group's Easy-5 / Hard-5 by mean
rank (`robustness.protocols.groups`), never judged relevant to a query of the group.

Static: the victim and corpus are those the attack saw. Dynamic: after crafting, the
ranking changes and the promotion is measured again on the same adversarial texts:
- `new_documents` > 0: the next documents of BM25's ranking (ranks k+1 ... k+n) enter every
  candidate list; the target's rank before and after is taken in the enlarged list;
- `transfer`: other rankers of the spec (e.g. the victim recipe re-trained with another
  seed) re-rank the same lists; the target's rank before and after is taken in theirs.
Attacks are looked up by name in the registry, so this task never imports one.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Mapping, Sequence

import numpy as np

from robustness.config import ComponentSpec
from robustness.data.candidates import bm25_candidates
from robustness.errors import ConfigError
from robustness.metrics import rank_by_insertion, topic_summary
from robustness.protocols.attack import AttackSetup, set_up_attack
from robustness.protocols.groups import GroupAttackResult, QueryGroup, cluster_queries, evaluate_group_attack, read_topic_file, summarise_groups
from robustness.registry import check_params, make
from robustness.tasks.base import RunDict, TaskContext

GROUPINGS = ("cluster", "topics")


class TopicAttackTask:
    """Runs topic attacks on the Easy-5 / Hard-5 targets of query groups (`adv_topic`).

    - `attacks`: registered attacks ({name, params} or a bare name), e.g. tara, per_query;
    - `grouping`, `topic_file`, `n_groups` (10), `min_size` (4), `max_size` (6): the groups;
    - `target_groups`: easy, hard; `victim_budget`: most victim queries per target;
    - `new_documents`, `transfer`: the dynamic settings (module docstring).
    """

    name = "adv_topic"

    def __init__(
        self,
        attacks: Sequence[ComponentSpec | str],
        grouping: str = "cluster",
        topic_file: str | None = None,
        n_groups: int = 10,
        min_size: int = 4,
        max_size: int = 6,
        target_groups: Sequence[str] = ("easy", "hard"),
        victim_budget: int | None = None,
        new_documents: int = 0,
        transfer: Sequence[str] = (),
    ) -> None:
        if not attacks:
            raise ConfigError(f"{self.name} needs at least one attack")
        if grouping not in GROUPINGS:
            raise ConfigError(f"{self.name} grouping must be one of {', '.join(GROUPINGS)}, got {grouping!r}")
        if grouping == "topics" and not topic_file:
            raise ConfigError(f"{self.name} grouping 'topics' needs a topic_file")
        if not (isinstance(n_groups, int) and n_groups >= 1 and isinstance(min_size, int) and 1 <= min_size <= max_size):
            raise ConfigError(f"{self.name} needs n_groups >= 1 and 1 <= min_size <= max_size, got {n_groups}, {min_size}, {max_size}")
        if victim_budget is not None and victim_budget < 1:
            raise ConfigError(f"{self.name} victim_budget must be >= 1 or null, got {victim_budget}")
        if not isinstance(new_documents, int) or new_documents < 0:
            raise ConfigError(f"{self.name} new_documents must be an integer >= 0, got {new_documents!r}")
        self.attacks = [ComponentSpec(name=a) if isinstance(a, str) else a for a in attacks]
        for i, attack in enumerate(self.attacks):
            check_params("attack", attack.name, attack.params, where=f"{self.name} attacks.{i}.params")
        self.grouping, self.topic_file = grouping, topic_file
        self.n_groups, self.min_size, self.max_size = n_groups, min_size, max_size
        self.target_groups = tuple(target_groups)
        self.victim_budget = victim_budget
        self.new_documents = new_documents
        self.transfer = list(transfer)

    def groups(self, ctx: TaskContext, run: RunDict) -> list[QueryGroup]:
        """The attacked groups: of queries with a full candidate list, a seeded sample."""
        full = {q: ctx.queries[q] for q in sorted(ctx.queries) if len(run.get(q, {})) >= ctx.candidates_k}
        if self.grouping == "topics":
            found = read_topic_file(self.topic_file, list(ctx.collection.queries), self.min_size)
            found = [QueryGroup(g.id, tuple(q for q in g.query_ids if q in full)[: self.max_size]) for g in found
                     if sum(q in full for q in g.query_ids) >= self.min_size]
        else:
            from robustness.rankers.bi_encoder import BiEncoderRanker

            encoder = BiEncoderRanker("minilm", device=ctx.device)
            n_clusters = max(1, len(full) // (2 * self.min_size))
            found = [QueryGroup(g.id, g.query_ids[: self.max_size])
                     for g in cluster_queries(full, n_clusters, encoder.encode, ctx.seed, self.min_size)]
        if not found:
            raise ConfigError(f"{self.name}: no query group of at least {self.min_size} queries with a full list of {ctx.candidates_k}")
        if len(found) > self.n_groups:
            found = sorted(ctx.rng(self.name, "groups").sample(found, self.n_groups), key=lambda g: g.id)
        return found

    def run(self, ctx: TaskContext, ranker_name: str) -> dict[str, Any]:
        for name in self.transfer:
            if name not in ctx.results:
                raise ConfigError(f"{self.name} transfer ranker {name!r} is not a ranker of this spec (known: {', '.join(ctx.results)})")
        run = ctx.results[ranker_name].run
        groups = self.groups(ctx, run)
        relevant = {q: {d for d, grade in ctx.qrels.get(q, {}).items() if grade > 0} for group in groups for q in group.query_ids}
        engine = ctx.engine(ranker_name)
        summary: dict[str, Any] = {}
        details: dict[str, Any] = {"groups": {g.id: list(g.query_ids) for g in groups}}
        conditions = list(self._dynamic(ctx, ranker_name, groups))  # the same changed lists for every attack
        for i, spec in enumerate(self.attacks):
            attack = make("attack", spec.name, spec.params, where=f"{self.name} attacks.{i}.params")
            setup_figures = set_up_attack(attack, AttackSetup(ranker_name, engine, ctx.collection, ctx.seed, ctx.candidates_k, ctx.progress, ctx.device))
            results = evaluate_group_attack(
                engine, attack, groups, ctx.queries, run, ctx.collection.docs, relevant,
                lambda *salt: ctx.rng(self.name, ranker_name, *salt), self.target_groups, self.victim_budget, ctx.candidates_k,
            )
            for group, figures in summarise_groups(results).items():
                summary[f"{attack.name} {group}"] = figures
            for condition, lists, scorer in conditions:
                summary[f"{attack.name} {condition}"] = remeasure(results, lists, scorer, ctx.queries, ctx.collection.docs)
            if setup_figures:
                summary[f"{attack.name} setup"] = setup_figures
            details[attack.name] = {"records": [asdict(r) for r in results], "setup": setup_figures}
        return {"summary": summary, "details": details, "n_groups": len(groups), "n_queries": sum(len(g.query_ids) for g in groups)}

    def _dynamic(self, ctx: TaskContext, ranker_name: str, groups: Sequence[QueryGroup]):
        """(condition, each query's scored list, the scorer of adversarial texts) per dynamic setting."""
        queries = {q: ctx.queries[q] for g in groups for q in g.query_ids}
        if self.new_documents:
            deeper = bm25_candidates(ctx.collection, queries, ctx.candidates_k + self.new_documents)
            run = ctx.results[ranker_name].run
            extra = {q: [d for d in deeper[q] if d not in run[q]] for q in queries}
            scored = ctx.rerank(ranker_name, queries, extra, ctx.collection.docs, desc="new documents") if any(extra.values()) else {}
            lists = {q: {**run[q], **scored.get(q, {})} for q in queries}
            yield f"dynamic +{self.new_documents} documents", lists, ctx.engine(ranker_name)
        for name in self.transfer:
            yield f"dynamic {name}", {q: ctx.results[name].run[q] for q in queries}, ctx.engine(name)

    def headline(self, figures: Mapping[str, Any]) -> tuple[str, float] | None:
        rows = [(k, v) for k, v in figures["summary"].items() if k.endswith(" all") and "topic_asr" in v]
        if not rows:
            return None
        key, values = rows[0]
        return f"topic ASR % ({key})", values["topic_asr"]


def remeasure(
    results: Sequence[GroupAttackResult], lists: Mapping[str, Mapping[str, float]], engine: Any, queries: Mapping[str, str], docs: Mapping[str, str]
) -> dict[str, float]:
    """Topic figures of the same adversarial texts under changed lists (all targets): the
    target's rank before is its original text's place in the new list, after is its
    adversarial text's, both among the list's other documents."""
    pairs = [(q, r) for r in results for q in r.query_ids]
    if not pairs:
        return {"n_targets": 0}
    adversarial = engine.score([queries[q] for q, _ in pairs], [r.adversarial_text for _, r in pairs])
    original = engine.score([queries[q] for q, _ in pairs], [docs[r.doc_id] for _, r in pairs])
    old, new, start = [], [], 0
    for r in results:
        before, after = [], []
        for j, q in enumerate(r.query_ids):
            others = np.array([s for d, s in lists[q].items() if d != r.doc_id])
            before.append(rank_by_insertion(others, original[start + j]))
            after.append(rank_by_insertion(others, adversarial[start + j]))
        start += len(r.query_ids)
        old.append(before)
        new.append(after)
    return topic_summary(old, new)
