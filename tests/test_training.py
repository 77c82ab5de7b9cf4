"""Tests of the pairwise trainer and its triple builders.

The model tests fine-tune the real offline MiniLM-L6 at max_length 48 on 32 triples (8 steps of
8), which takes a few seconds a run on 2 CPU cores; one uninterrupted run is shared by the
tests that compare against it.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from robustness.cache import cache_dir
import torch
from safetensors.torch import load_file

from robustness.rankers.cross_encoder import CrossEncoderRanker
from robustness.training import (
    TrainConfig,
    Triple,
    fingerprint_triples,
    model_cache_path,
    pairwise_loss,
    train_pairwise,
    training_fingerprint,
    triples_from_qrels,
    triples_from_ranking,
)

# Eight topics; each query shares its words with its own document only.
TOPICS = [
    ("how do solar panels make electricity",
     "Solar panels make electricity from sunlight with photovoltaic cells."),
    ("how to bake sourdough bread",
     "To bake sourdough bread, mix flour, water and a fermented starter."),
    ("how do vaccines train the immune system",
     "Vaccines train the immune system with a harmless antigen."),
    ("why do volcanoes erupt",
     "Volcanoes erupt when magma and gas force molten rock to the surface."),
    ("rules of castling in chess",
     "Castling in chess moves the king two squares toward a rook."),
    ("how is coffee roasted",
     "Coffee beans are roasted at high heat, which develops their flavour."),
    ("how do whales breathe",
     "Whales breathe air through blowholes on top of their heads."),
    ("what is bitcoin mining",
     "Bitcoin mining uses computers to validate transactions for new coins."),
]


def _against(offsets: range) -> list[Triple]:
    """Each query's own document preferred to the documents of the topics at these offsets."""
    return [
        (query, doc, TOPICS[(t + k) % len(TOPICS)][1])
        for t, (query, doc) in enumerate(TOPICS)
        for k in offsets
    ]


TRIPLES = _against(range(1, 5))  # 32 triples: 4 steps an epoch
HELD_OUT = _against(range(5, 8))  # the other documents, never trained against
# A high learning rate so that 8 steps move the margin loss far from its start (scores ~0).
CONFIG = TrainConfig(max_length=48, epochs=2, lr=3e-4, checkpoint_every=None, seed=13)


@pytest.fixture(scope="module")
def trained(minilm_path: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One uninterrupted reference run."""
    return train_pairwise(minilm_path, TRIPLES, tmp_path_factory.mktemp("ref"), CONFIG, False)


def _weights(model_dir: Path) -> dict[str, torch.Tensor]:
    return load_file(model_dir / "model.safetensors")


def _assert_same_weights(a: Path, b: Path) -> None:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    different = [name for name in wa if not torch.equal(wa[name], wb[name])]
    assert not different, f"weights differ: {different[:5]}"


def _pair_scores(model: str | Path, triples: list[Triple]) -> tuple[torch.Tensor, torch.Tensor]:
    """Scores of the preferred and less-preferred documents by the suite's cross-encoder ranker.

    The ranker seeds its fresh head as the trainer does, so the base model gives the untrained
    starting point; a trained out_dir must load in it as it is."""
    ranker = CrossEncoderRanker(model, max_length=CONFIG.max_length, device="cpu", seed=CONFIG.seed)
    queries = [q for q, _, _ in triples]
    docs = [p for _, p, _ in triples] + [n for _, _, n in triples]
    scores = torch.from_numpy(ranker.score(queries + queries, docs))
    return scores[: len(triples)], scores[len(triples) :]


# ---------------------------------------------------------------------------------- training


def test_training_learns_the_pairwise_preferences(minilm_path: str, trained: Path) -> None:
    n = len(TRIPLES)
    pos0, neg0 = _pair_scores(minilm_path, TRIPLES + HELD_OUT)
    pos1, neg1 = _pair_scores(trained, TRIPLES + HELD_OUT)
    loss0 = pairwise_loss(pos0[:n], neg0[:n], CONFIG)
    loss1 = pairwise_loss(pos1[:n], neg1[:n], CONFIG)
    accuracy0 = (pos0[:n] > neg0[:n]).float().mean().item()
    accuracy1 = (pos1[:n] > neg1[:n]).float().mean().item()
    assert loss1 < 0.5 * loss0
    assert accuracy1 >= 0.9 and accuracy1 > accuracy0
    # It learned to match topics, not the 32 pairs: unseen negatives are ranked below too.
    assert (pos1[n:] > neg1[n:]).float().mean() >= 0.9 > (pos0[n:] > neg0[n:]).float().mean()


def test_training_json_records_the_run(minilm_path: str, trained: Path) -> None:
    record = json.loads((trained / "training.json").read_text())
    assert record["n_triples"] == len(TRIPLES)
    assert record["triples_sha256"] == fingerprint_triples(TRIPLES)
    assert record["run_fingerprint"] == training_fingerprint(minilm_path, TRIPLES, CONFIG)
    assert record["run_fingerprint"] == training_fingerprint("minilm", TRIPLES, CONFIG)
    assert record["config"]["seed"] == CONFIG.seed and record["steps"] == 8
    assert record["final_loss"] > 0 and record["seconds"] > 0
    assert {"torch", "transformers", "python"} <= record["versions"].keys()
    assert not list(trained.glob("checkpoint-*")) and not list(trained.glob(".tmp-*"))


def test_same_seed_reproduces_the_weights_exactly(
    minilm_path: str, trained: Path, tmp_path: Path
) -> None:
    again = train_pairwise(minilm_path, TRIPLES, tmp_path / "again", CONFIG, progress=False)
    _assert_same_weights(trained, again)


def test_resumed_run_ends_with_the_uninterrupted_weights(
    minilm_path: str, trained: Path, tmp_path: Path
) -> None:
    class Killed(Exception):
        pass

    def kill_at_step_5(step: int, loss: float) -> None:
        if step == 5:
            raise Killed

    out_dir = tmp_path / "resumed"
    # Checkpointing every 3 steps: the kill at step 5 loses steps 4-5, which straddle the
    # epoch boundary, and checkpointing itself must not change the result.
    config = TrainConfig(**{**CONFIG.__dict__, "checkpoint_every": 3})
    with pytest.raises(Killed):
        train_pairwise(minilm_path, TRIPLES, out_dir, config, False, on_step=kill_at_step_5)
    assert [p.name for p in out_dir.glob("checkpoint-*")] == ["checkpoint-00000003"]
    assert not (out_dir / "training.json").exists()
    (out_dir / ".tmp-checkpoint-killed").mkdir()  # as a kill in the middle of a save leaves
    other_seed = TrainConfig(**{**config.__dict__, "seed": CONFIG.seed + 1})
    with pytest.raises(ValueError, match="checkpoint of another training run"):
        train_pairwise(minilm_path, TRIPLES, out_dir, other_seed, progress=False)

    steps: list[int] = []
    train_pairwise(
        minilm_path, TRIPLES, out_dir, config, False, on_step=lambda step, _: steps.append(step)
    )

    assert steps == [4, 5, 6, 7, 8]
    _assert_same_weights(trained, out_dir)
    records = [json.loads((d / "training.json").read_text()) for d in (trained, out_dir)]
    assert records[0]["final_loss"] == records[1]["final_loss"]
    assert not list(out_dir.glob("checkpoint-*")) and not list(out_dir.glob(".tmp-*"))


def test_finished_out_dir_is_returned_without_training(minilm_path: str, trained: Path) -> None:
    mtime = (trained / "model.safetensors").stat().st_mtime_ns
    steps: list[int] = []
    # checkpoint_every and device do not change the weights, so they do not change the run.
    config = TrainConfig(**{**CONFIG.__dict__, "checkpoint_every": 1, "device": "cpu"})
    result = train_pairwise(
        minilm_path, TRIPLES, trained, config, on_step=lambda step, _: steps.append(step)
    )
    assert result == trained and steps == []
    assert (trained / "model.safetensors").stat().st_mtime_ns == mtime


def test_finished_out_dir_of_another_run_is_refused(minilm_path: str, trained: Path) -> None:
    other_seed = TrainConfig(**{**CONFIG.__dict__, "seed": CONFIG.seed + 1})
    with pytest.raises(ValueError, match="another training run"):
        train_pairwise(minilm_path, TRIPLES, trained, other_seed, progress=False)
    with pytest.raises(ValueError, match="another training run"):
        train_pairwise(minilm_path, TRIPLES[:-1], trained, CONFIG, progress=False)


# ------------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("triples", "message"),
    [
        ([], "triples is empty"),
        ([("q", "d", "e"), ("q", "", "e")], "triple 1: the preferred document is empty"),
        ([("  ", "d", "e")], "triple 0: the query is empty"),
        ([("q", "d", "   ")], "triple 0: the less-preferred document is empty"),
        ([("q", "d")], "triple 0 is not a"),
        ([("q", "d", None)], "triple 0: the less-preferred document is NoneType, not str"),
    ],
)
def test_bad_triples_are_rejected_before_loading_anything(
    triples: list, message: str, tmp_path: Path
) -> None:
    with pytest.raises(ValueError, match=message):
        train_pairwise("no/such-model", triples, tmp_path / "out", CONFIG, progress=False)
    assert not (tmp_path / "out").exists()


def test_query_too_long_for_max_length_is_rejected(minilm_path: str, tmp_path: Path) -> None:
    triples = [("short query", "doc", "other"), ("word " * 60, "doc", "other")]
    with pytest.raises(ValueError, match="triple 1: the query has 60 tokens, leaving no room"):
        train_pairwise(minilm_path, triples, tmp_path / "out", CONFIG, progress=False)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"loss": "hinge"}, "loss must be 'margin' or 'ranknet'"),
        ({"label_smoothing": 0.1}, "label_smoothing only applies to loss='ranknet'"),
        ({"loss": "ranknet", "label_smoothing": 0.5}, "label_smoothing must be in"),
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"batch_size": 0}, "batch_size must be >= 1"),
        ({"checkpoint_every": 0}, "checkpoint_every must be >= 1 or None"),
    ],
)
def test_bad_config_is_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


# ------------------------------------------------------------------------------------- loss


def test_pairwise_losses() -> None:
    pos, neg = torch.tensor([3.0, 0.5]), torch.tensor([1.0, 0.0])
    margin = pairwise_loss(pos, neg, TrainConfig(loss="margin", margin=1.0))
    assert margin.item() == pytest.approx((0.0 + 0.5) / 2)
    plain = pairwise_loss(pos, neg, TrainConfig(loss="ranknet"))
    smoothed = pairwise_loss(pos, neg, TrainConfig(loss="ranknet", label_smoothing=0.1))
    diff = pos - neg
    assert plain.item() == pytest.approx(torch.nn.functional.softplus(-diff).mean().item())
    assert smoothed.item() > plain.item()
    # With smoothing, a pair is best left at probability 0.9, not pushed to certainty.
    imitation = TrainConfig(loss="ranknet", label_smoothing=0.1)
    zero = torch.tensor([0.0])
    far = pairwise_loss(torch.tensor([20.0]), zero, imitation)
    at_target = pairwise_loss(torch.logit(torch.tensor([0.9])), zero, imitation)
    assert at_target < far


# --------------------------------------------------------------------------------- builders

QUERIES = {"q1": "query one", "q2": "query two", "q3": "query three"}
DOCS = {f"d{i}": f"document {i}" for i in range(10)}
QRELS = {"q1": {"d0": 2, "d1": 1, "d2": 0}, "q2": {"d3": 1}, "q3": {"d4": 0}}
CANDIDATES = {
    "q1": ["d0", "d1", "d2", "d5", "d6", "d7"],
    "q2": ["d3", "d8", "d9"],
    "q3": ["d4", "d5"],
}


def test_triples_from_qrels_pairs_relevant_with_non_relevant() -> None:
    triples = triples_from_qrels(QUERIES, QRELS, DOCS, CANDIDATES, 2, random.Random(0))
    relevant = {"q1": {"document 0", "document 1"}, "q2": {"document 3"}}
    by_text = {text: qid for qid, text in QUERIES.items()}
    # q1: 2 positives x 2 negatives; q2: 1 x 2; q3 has no positive.
    assert len(triples) == 6
    for query, preferred, less in triples:
        qid = by_text[query]
        assert preferred in relevant[qid] and less not in relevant[qid]
    # d2 is judged 0: a true negative, so it may be sampled.
    everything = triples_from_qrels(QUERIES, QRELS, DOCS, CANDIDATES, 10, random.Random(0))
    assert {less for q, _, less in everything if q == "query one"} == {
        "document 2", "document 5", "document 6", "document 7"
    }


def test_triples_from_qrels_is_deterministic_under_seed() -> None:
    def build(seed: int) -> list[Triple]:
        return triples_from_qrels(QUERIES, QRELS, DOCS, CANDIDATES, 2, random.Random(seed))

    assert build(1) == build(1)
    assert any(build(1) != build(s) for s in range(2, 6))
    reordered = dict(reversed(QRELS.items()))
    assert triples_from_qrels(QUERIES, reordered, DOCS, CANDIDATES, 2, random.Random(1)) == build(1)


def test_triples_from_qrels_names_a_missing_document() -> None:
    with pytest.raises(ValueError, match="document 'dx' .* is not in doc_text"):
        triples_from_qrels(QUERIES, {"q1": {"dx": 1}}, DOCS, {"q1": ["d5"]}, 1, random.Random(0))


RANKINGS = {"q1": [f"d{i}" for i in range(10)], "q2": ["d9", "d8", "d7"]}


def test_triples_from_ranking_prefers_the_higher_ranked_document() -> None:
    triples = triples_from_ranking(
        QUERIES, RANKINGS, DOCS, random.Random(0), top=3, n_pairs_per_query=8
    )
    assert len(triples) == 8 + 3  # q2 has only 3 pairs: all are kept
    for query, preferred, less in triples:
        qid = "q1" if query == "query one" else "q2"
        rank = {DOCS[d]: r for r, d in enumerate(RANKINGS[qid])}
        assert rank[preferred] < rank[less] and rank[preferred] < 3


def test_triples_from_ranking_enumerates_all_pairs_and_respects_min_gap() -> None:
    every = triples_from_ranking(
        QUERIES, {"q1": RANKINGS["q1"]}, DOCS, random.Random(0), top=2, n_pairs_per_query=None
    )
    assert len(every) == 9 + 8
    gapped = triples_from_ranking(
        QUERIES, {"q1": RANKINGS["q1"]}, DOCS, random.Random(0), top=2,
        n_pairs_per_query=None, min_gap=5,
    )
    rank = {DOCS[d]: r for r, d in enumerate(RANKINGS["q1"])}
    assert len(gapped) == 5 + 4
    assert all(rank[less] - rank[preferred] >= 5 for _, preferred, less in gapped)


def test_triples_from_ranking_is_deterministic_under_seed() -> None:
    def build(seed: int) -> list[Triple]:
        return triples_from_ranking(
            QUERIES, RANKINGS, DOCS, random.Random(seed), top=5, n_pairs_per_query=6
        )

    assert build(3) == build(3)
    assert any(build(3) != build(s) for s in range(4, 8))


def test_triples_from_ranking_rejects_a_ranking_with_duplicates() -> None:
    with pytest.raises(ValueError, match="ranking of query 'q1' lists a document more than once"):
        triples_from_ranking(QUERIES, {"q1": ["d1", "d2", "d1"]}, DOCS, random.Random(0))


# ------------------------------------------------------------------------------------ cache


def test_cache_dir_honours_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROBUSTNESS_CACHE_DIR", str(tmp_path))
    assert cache_dir() == tmp_path
    assert model_cache_path("victim-scifact", "ab12") == tmp_path / "models" / "victim-scifact-ab12"
    with pytest.raises(ValueError, match="model cache name must be"):
        model_cache_path("../escape", "ab12")
