"""The TextAttack bridge: offline import, ranking goal, recipes on BM25 over Cranfield.

Skipped when TextAttack is not installed (CI installs it: ``pip install --no-deps
textattack==0.3.11 lru-dict``). Everything runs with the network unreachable, and the tests
make sure nothing even tries: sockets and ``nltk.download`` raise.
"""

from __future__ import annotations

import importlib.util
import json
import os
import random
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

if importlib.util.find_spec("textattack") is None:
    pytest.skip(
        "textattack is not installed (pip install --no-deps textattack==0.3.11 lru-dict)",
        allow_module_level=True,
    )

from robustness.registry import make
from robustness.attacks.textattack_bridge import TextAttackRecipe, blocked_downloads, load_textattack, make_goal_function
from robustness.protocols.attack import Target, Victim, apply_edits
from robustness.protocols.evaluation import evaluate_attack
from robustness.data import bm25_candidates
from robustness.engine import ScoringEngine
from robustness.errors import ConfigError
from robustness.rankers.bm25 import BM25Ranker

REPO = Path(__file__).resolve().parents[1]


class NetworkUsed(AssertionError):
    pass


def _no_network(*args, **kwargs):
    raise NetworkUsed(f"network access attempted: {args[:2]}")


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """Any connection or NLTK download fails the test."""
    import nltk

    monkeypatch.setattr(socket.socket, "connect", _no_network)
    monkeypatch.setattr(socket, "create_connection", _no_network)
    monkeypatch.setattr(nltk, "download", _no_network)
    yield


# -- a fresh import, as on a new machine --------------------------------------------------------------
def test_fresh_import_is_offline_and_leaves_the_process_alone(tmp_path) -> None:
    """New HOME (so no TextAttack post-install marker), sockets and nltk.download raising."""
    script = textwrap.dedent(
        """
        import json, logging, os, socket, sys
        def refuse(*a, **k):
            raise OSError("network access attempted")
        socket.socket.connect = refuse
        socket.create_connection = refuse
        import nltk
        nltk.download = refuse
        existing = logging.getLogger("robustness.some.module")
        import importlib.util
        from robustness.attacks import textattack_bridge as bridge
        from robustness.attacks.textattack_bridge import TextAttackRecipe, blocked_downloads, load_textattack
        from robustness.attacks.textattack_compat import _OPTIONAL_MODULES
        cheap_import = "torch" not in sys.modules and "textattack" not in sys.modules
        missing = sorted(name for name in _OPTIONAL_MODULES if importlib.util.find_spec(name) is None)
        ta = load_textattack()
        from robustness.attacks import textattack_classes
        import textattack.shared.utils.strings as strings
        placeholder_error = None
        try:
            strings.flair.data.Sentence("x")
        except ModuleNotFoundError as exc:
            placeholder_error = str(exc)
        try:
            import flair
            flair_after = "importable"
        except ModuleNotFoundError:
            flair_after = "missing"
        print(json.dumps({
            "blocked": blocked_downloads,
            "logger_disabled": existing.disabled,
            "tokenizers_parallelism": os.environ.get("TOKENIZERS_PARALLELISM"),
            "marker": os.path.exists(os.path.expanduser("~/.cache/textattack/post_install_check_3")),
            "nltk_download_restored": nltk.download is refuse,
            "placeholder_error": placeholder_error,
            "flair_after": flair_after,
            "cheap_import": cheap_import,
            "missing_after": sorted(name for name in missing if importlib.util.find_spec(name) is None),
            "missing": missing,
            "classes_lazy": bridge.RankGoalFunction is textattack_classes.RankGoalFunction,
        }))
        """
    )
    env = {k: v for k, v in os.environ.items() if k not in ("TA_CACHE_DIR", "TOKENIZERS_PARALLELISM")}
    env["HOME"] = str(tmp_path)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run([sys.executable, "-c", script], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["blocked"] == []  # TextAttack never even asked: its post-install was marked done
    assert report["marker"]
    assert report["nltk_download_restored"]
    assert report["logger_disabled"] is False  # TextAttack's dictConfig would have disabled it
    assert report["tokenizers_parallelism"] is None  # TextAttack sets it to "True" at import
    if importlib.util.find_spec("flair") is None:
        assert "flair" in report["placeholder_error"] and "pip install flair" in report["placeholder_error"]
        assert report["flair_after"] == "missing"  # the placeholder does not outlive the import
    assert report["missing_after"] == report["missing"]  # nor does any other
    assert report["cheap_import"]  # the bridge imports neither TextAttack nor torch ...
    assert report["classes_lazy"]  # ... until its TextAttack subclasses are asked for
    assert "Downloading" not in done.stderr


# -- BM25 victim over Cranfield ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def bm25_setting(cranfield):
    queries_all, _ = cranfield.split("test")
    qid = sorted(queries_all, key=int)[0]
    ranker = BM25Ranker()
    ids = bm25_candidates(cranfield, {qid: queries_all[qid]}, k=100, bm25=ranker)[qid]
    engine = ScoringEngine(ranker, progress=False)
    scores = engine.score([queries_all[qid]] * len(ids), [cranfield.docs[d] for d in ids])
    return engine, qid, queries_all[qid], ids, scores


def _target(cranfield, setting, rank: int) -> tuple[Target, Victim]:
    engine, qid, query, ids, scores = setting
    doc = ids[rank - 1]
    victim = Victim(engine, [query], [np.delete(scores, rank - 1)])
    return Target.single(qid, query, doc, cranfield.docs[doc], rank, "hard"), victim


def _changed_words(before: str, after: str) -> int:
    a, b = before.split(), after.split()
    assert len(a) == len(b)  # one word for one word
    return sum(x != y for x, y in zip(a, b))


@pytest.mark.parametrize("transformation,search", [("wordnet", "greedy-wir"), ("glove", "greedy-wir"), ("wordnet", "greedy")])
def test_recipe_promotes_or_keeps_and_respects_the_budget(cranfield, bm25_setting, transformation, search) -> None:
    recipe = TextAttackRecipe(transformation, search, budget=3, query_budget=400)
    improved = 0
    for rank in (56, 75, 95):  # short documents (79-156 words) keep TextAttack fast
        target, victim = _target(cranfield, bm25_setting, rank)
        outcome = recipe.attack(target, victim, random.Random(rank))
        new_rank = victim.ranks([outcome.text])[0]
        assert new_rank <= target.old_rank
        improved += new_rank < target.old_rank
        assert victim.queries_used <= 400 + 1  # the query budget (+ our check above)
        assert len(outcome.edits) <= 3
        assert _changed_words(target.text, outcome.text) == len(outcome.edits)
        for edit in outcome.edits:
            assert edit.kind == "substitute" and edit.old != edit.new and edit.old.lower() not in {"the", "of", "and"}
        assert apply_edits(target.text, outcome.edits) == outcome.text
        if not outcome.edits:
            assert outcome.text == target.text
    assert improved >= 1  # synonyms of the documents' words include query terms
    assert not blocked_downloads


def test_random_word_order_swaps_within_a_budget_that_deletion_spends_on_importance(cranfield, bm25_setting) -> None:
    """Deletion importance costs one victim query per word (79-156 here) before any swap."""
    improved = {"delete": 0, "random": 0}
    for wir_method in improved:
        recipe = TextAttackRecipe(budget=3, query_budget=40, wir_method=wir_method)
        for rank in (56, 75, 95):
            target, victim = _target(cranfield, bm25_setting, rank)
            outcome = recipe.attack(target, victim, random.Random(rank))
            assert victim.queries_used <= 40
            improved[wir_method] += victim.ranks([outcome.text])[0] < target.old_rank
    assert improved["delete"] == 0 and improved["random"] >= 1
    assert TextAttackRecipe(wir_method="random").name == "textattack-wordnet-greedy-wir-random"
    with pytest.raises(ConfigError, match="wir_method"):
        TextAttackRecipe(wir_method="gradient")


def test_recipe_is_deterministic(cranfield, bm25_setting) -> None:
    runs = []
    first, second = TextAttackRecipe(budget=4), TextAttackRecipe(budget=4)
    for recipe in (first, first, second):  # a reused and a fresh recipe agree
        target, victim = _target(cranfield, bm25_setting, 60)
        outcome = recipe.attack(target, victim, random.Random(7))
        runs.append((outcome.text, outcome.edits, victim.queries_used))
    assert all(run == runs[0] for run in runs)
    assert runs[0][1]  # it did change something


def test_query_budget_and_victim_budget(cranfield, bm25_setting) -> None:
    engine, qid, query, ids, scores = bm25_setting
    target, victim = _target(cranfield, bm25_setting, 90)
    TextAttackRecipe(query_budget=25).attack(target, victim, random.Random(0))
    assert 0 < victim.queries_used <= 25
    target, victim = _target(cranfield, bm25_setting, 90)
    victim.budget = 10
    TextAttackRecipe().attack(target, victim, random.Random(0))  # must not raise BudgetExhausted
    assert victim.queries_used <= 10


def test_evaluate_attack_with_the_registered_attack(cranfield, bm25_setting) -> None:
    engine, qid, query, ids, scores = bm25_setting
    attack = make("attack", "textattack", dict(transformation="wordnet", search="greedy-wir", budget=2, query_budget=150))
    assert attack.name == "textattack-wordnet-greedy-wir"
    rankings = {qid: dict(zip(ids, map(float, scores)))}
    results = evaluate_attack(
        engine, attack, {qid: query}, rankings, cranfield.docs, {}, lambda *salt: random.Random("|".join(map(str, salt))),
        groups=("hard",), victim_budget=200, progress=False,
    )
    assert len(results) == 5
    assert all(r.new_rank <= r.old_rank and 0 < r.victim_queries <= 150 for r in results)
    assert all(len(r.edits) <= 2 for r in results)


def test_goal_function_scores_rank_improvement(cranfield, bm25_setting) -> None:
    from textattack.goal_function_results import GoalFunctionResultStatus
    from textattack.shared import AttackedText

    target, victim = _target(cranfield, bm25_setting, 80)
    goal = make_goal_function(victim, target_rank=10)
    goal.init_attack_example(AttackedText(target.text), target.old_rank)
    stuffed = AttackedText(f"{target.query} {target.query} {target.text}")
    (same, better), _ = goal.get_results([AttackedText(target.text + " zzz"), stuffed])
    assert victim.queries_used == 3  # the original and both candidates, in one go each
    assert better.raw_output < 10 and better.score == target.old_rank - better.raw_output
    assert better.goal_status == GoalFunctionResultStatus.SUCCEEDED
    assert same.goal_status == GoalFunctionResultStatus.SEARCHING
    goal.get_results([stuffed])  # cached: no victim query
    assert victim.queries_used == 3


def test_glove_embedding_is_glove_source() -> None:
    """TextAttack's GloVe rows are GloveSource's neighbours, in order, past its threshold."""
    from robustness.attacks.textattack_classes import glove_embedding
    from robustness.text.synonyms import GloveSource

    embedding, source = glove_embedding(50_000, 50), GloveSource(vocab_size=50_000, k=50)
    row = embedding.word2index("car")
    assert source.vocabulary["car"] == row and source.words[row] == "car"
    assert len(source.words) == len(source.vectors) == 400_000
    neighbours = [embedding.index2word(j) for j in embedding.nearest_neighbours(row, 50)]
    above = [word for word, _ in source.neighbours("car")]  # the 32 with cosine >= 0.7
    assert len(neighbours) == 50 > len(above) and neighbours[: len(above)] == above
    assert not {"car", "cars"} & set(neighbours)
    cosine = embedding.get_cos_sim("car", neighbours[0])  # what WordEmbeddingDistance reads
    assert cosine == pytest.approx(source.similarity("car", neighbours[0]), abs=1e-6)


def test_bad_params_are_config_errors() -> None:
    for bad in ({"transformation": "bert"}, {"search": "beam"}, {"budget": 0}, {"query_budget": 0}, {"min_cos_sim": 1.5}):
        with pytest.raises(ConfigError):
            TextAttackRecipe(**bad)
    with pytest.raises(ConfigError):
        make("attack", "textattack", dict(unknown=1))
    assert load_textattack().__name__ == "textattack"


def test_missing_textattack_is_a_clear_error(monkeypatch) -> None:
    from robustness.attacks.textattack_bridge import TextAttackUnavailable

    monkeypatch.setitem(sys.modules, "textattack", None)  # find_spec now says "not installed"
    with pytest.raises(TextAttackUnavailable, match="pip install --no-deps textattack==0.3.11"):
        load_textattack.__wrapped__()
    with pytest.raises(TextAttackUnavailable):
        make("attack", "textattack")
