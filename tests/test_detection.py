"""Detectors of adversarial documents (DESIGN §9.2) and the language model behind perplexity:
Kneser–Ney probabilities by hand and by normalisation, OSD spamicity by hand, the detection
AUC on separable and on identical distributions, and the detection task end to end."""

from __future__ import annotations

import json
import math
import os
import random
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from robustness import run_benchmark
from robustness.defenses.detectors import OSDSpamicity, PerplexityDetector
from robustness.errors import ConfigError
from robustness.metrics import roc_auc
from robustness.registry import make
from robustness.text.language_model import (
    FALLBACK_DISCOUNTS,
    NGramLanguageModel,
    build_language_model,
    language_model_kind,
    modified_kn_discounts,
    sentences,
)

TINY = ["the cat sat on the mat. The dog sat on the log!", "a cat and a dog. the cat ran", "", "dogs chase cats? cats run."]


def tiny_collection(docs: list[str]) -> SimpleNamespace:
    """What the detectors read of a Collection: documents and a content fingerprint."""
    return SimpleNamespace(docs={str(i): d for i, d in enumerate(docs)}, fingerprint=lambda: "|".join(docs))


# -- Kneser–Ney ----------------------------------------------------------------------------
@pytest.mark.parametrize("discount", [None, 0.75])
@pytest.mark.parametrize("order", [1, 2, 3, 4])
def test_next_word_probabilities_sum_to_one_over_the_vocabulary(order, discount) -> None:
    model = NGramLanguageModel(order, discount).fit(TINY)
    assert {"</s>", "<unk>", "cat", "cats"} <= set(model.vocabulary) and "<s>" not in model.vocabulary
    for context in [(), ("the",), ("sat", "on"), ("on", "the"), ("unseen",), ("the", "unseen"), ("cat", "the")]:
        probabilities = [model.probability(w, context) for w in model.vocabulary]
        assert min(probabilities) > 0
        assert sum(probabilities) == pytest.approx(1.0, abs=1e-12)


def test_kneser_ney_probabilities_by_hand() -> None:
    # Sentences [a b], [a c], [b c]; padded <s> a b </s>, <s> a c </s>, <s> b c </s>.
    model = NGramLanguageModel(order=2, discount=0.75).fit(["a b. a c.", "b c."])
    # Unigram continuation counts (distinct predecessors): a {<s>} 1, b {a, <s>} 2, c {a, b} 2,
    # </s> {b, c} 2: total 7, discounted mass 4 * 0.75 = 3, spread uniformly over the 5 tokens
    # a, b, c, </s>, <unk>.
    unigram_c = (2 - 0.75 + 3 / 5) / 7
    unigram_unk = (3 / 5) / 7
    # Context "a": raw bigram counts (a b) 1, (a c) 1: total 2, mass 2 * 0.75.
    assert model.probability("c", ["a"]) == pytest.approx((1 - 0.75 + 1.5 * unigram_c) / 2, rel=1e-12)
    assert model.probability("zebra", ["a"]) == pytest.approx(1.5 * unigram_unk / 2, rel=1e-12)
    # Context "c" is only followed by </s> (twice): P(</s> | c) = (2 - 0.75 + 0.75 P(</s>)) / 2.
    unigram_end = (2 - 0.75 + 3 / 5) / 7
    assert model.probability("</s>", ["c"]) == pytest.approx((2 - 0.75 + 0.75 * unigram_end) / 2, rel=1e-12)
    # An unseen context backs off to the unigram distribution.
    assert model.probability("c", ["zebra"]) == pytest.approx(unigram_c, rel=1e-12)

    # Order 3, first word of a sentence: context (<s>, <s>) saw a twice and b once. Bigrams
    # starting with <s> keep their raw counts ((<s> a) 2, (<s> b) 1), not continuation counts
    # (1 each: only padding precedes them); the unigrams are as above.
    trigram = NGramLanguageModel(order=3, discount=0.75).fit(["a b. a c.", "b c."])
    unigram_a = (1 - 0.75 + 3 / 5) / 7
    bigram_a = (2 - 0.75 + 1.5 * unigram_a) / 3
    assert trigram.probability("a", []) == pytest.approx((2 - 0.75 + 1.5 * bigram_a) / 3, rel=1e-12)


def test_modified_discounts_by_hand_and_fallback() -> None:
    counts = np.array([1] * 10 + [2] * 4 + [3] * 2 + [4] * 1 + [7] * 3)  # n1..n4 = 10, 4, 2, 1
    y = 10 / (10 + 2 * 4)
    expected = (1 - 2 * y * 4 / 10, 2 - 3 * y * 2 / 4, 3 - 4 * y * 1 / 2)
    assert modified_kn_discounts(counts) == pytest.approx(expected)
    assert modified_kn_discounts(np.array([1, 1, 2, 3])) == FALLBACK_DISCOUNTS  # no count of 4


def test_log_prob_chains_the_next_word_probabilities_per_sentence() -> None:
    model = NGramLanguageModel(order=3).fit(TINY)
    text = "The cat ran. Zebras sat!"
    assert sentences(text) == [["the", "cat", "ran"], ["zebras", "sat"]]
    expected = sum(
        math.log(model.probability(word, sentence[:i]))
        for sentence in (["the", "cat", "ran", "</s>"], ["zebras", "sat", "</s>"])
        for i, word in enumerate(sentence)
    )
    assert model.log_prob(text) == pytest.approx(expected, rel=1e-12)
    assert model.perplexity(text) == pytest.approx(math.exp(-expected / 7), rel=1e-12)  # 5 words + 2 </s>
    assert model.log_probs([text, "", text]) == pytest.approx([expected, model.log_prob(""), expected])


def test_texts_without_words_score_as_one_empty_sentence() -> None:
    model = NGramLanguageModel(order=3).fit(TINY)
    empty = 1 / model.probability("</s>", [])
    for text in ["", "  ...  ", "?!"]:
        assert model.perplexity(text) == pytest.approx(empty, rel=1e-12)
    assert math.isfinite(model.perplexity("qwerty zxcvb"))  # unknown words only
    untrained = NGramLanguageModel(order=2).fit([])  # nothing seen: uniform over </s> and <unk>
    assert untrained.perplexity("anything at all") == pytest.approx(2.0)


def test_real_sentences_read_better_than_their_shuffles(cranfield) -> None:
    held_out = sorted(cranfield.docs)[100:600:100]
    model = NGramLanguageModel().fit(text for doc_id, text in cranfield.docs.items() if doc_id not in held_out)
    rng = random.Random(7)
    for doc_id in held_out:
        sentence = next(" ".join(s) for s in sentences(cranfield.docs[doc_id]) if len(s) >= 8)
        shuffled = sentence.split()
        while " ".join(shuffled) == sentence:
            rng.shuffle(shuffled)
        assert model.perplexity(sentence) < model.perplexity(" ".join(shuffled)), doc_id


def test_language_model_specs() -> None:
    assert language_model_kind("ngram") == "ngram"
    assert language_model_kind("openai-community/gpt2") == language_model_kind("hf:gpt2") == "causal-lm"  # nothing loaded
    for bad, says in [("gtp2", "unknown language model 'gtp2'"), ("./no-such-model", "does not exist")]:
        with pytest.raises(ConfigError, match=says) as raised:
            build_language_model(bad)
        assert "\n" not in str(raised.value)
    with pytest.raises(ConfigError, match="estimated on a collection"):
        build_language_model("ngram")
    collection = tiny_collection(TINY)
    assert build_language_model("ngram", collection) is build_language_model("ngram", collection)  # fitted once
    assert build_language_model("ngram", collection, order=2).order == 2
    with pytest.raises(ConfigError, match="unknown language model"):
        make("detector", "perplexity", {"language_model": "bogus"}, where="test")


def test_causal_lm_perplexity_is_exp_of_the_models_own_loss(tmp_path) -> None:
    """A tiny random GPT-2 and word-level tokenizer made here (nothing is downloaded): the
    wrapper's perplexity equals exp(loss) of the model's own `labels=` loss on the framed text,
    whatever batch it is padded in."""
    torch = pytest.importorskip("torch")
    tokenizers = pytest.importorskip("tokenizers")
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {"[UNK]": 0, "<|endoftext|>": 1, **{w: i + 2 for i, w in enumerate("the cat sat on mat dog ran a".split())}}
    word_level = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    word_level.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=word_level, unk_token="[UNK]", bos_token="<|endoftext|>", eos_token="<|endoftext|>").save_pretrained(tmp_path)
    torch.manual_seed(0)
    config = GPT2Config(vocab_size=len(vocab), n_positions=32, n_embd=16, n_layer=1, n_head=2, bos_token_id=1, eos_token_id=1)
    GPT2LMHeadModel(config).save_pretrained(tmp_path)

    lm = build_language_model(str(tmp_path), device="cpu", batch_size=2)
    texts = ["the cat sat on the mat", "", "dog ran", "a zebra sat on the cat the dog"]
    model = GPT2LMHeadModel.from_pretrained(tmp_path).eval()
    for text, perplexity in zip(texts, lm.perplexities(texts)):
        ids = torch.tensor([[1, *lm.tokenizer(text, add_special_tokens=False)["input_ids"], 1]])
        with torch.inference_mode():
            assert perplexity == pytest.approx(math.exp(model(input_ids=ids, labels=ids).loss.item()), rel=1e-5)


# -- OSD spamicity -------------------------------------------------------------------------
def test_osd_spamicity_by_hand() -> None:
    detector = OSDSpamicity()
    detector.fit(tiny_collection(["apple banana", "apple cherry", "banana banana date"]))
    idf = {"apple": math.log(4 / 3) + 1, "banana": math.log(4 / 3) + 1, "date": math.log(4 / 2) + 1, "zebra": math.log(4 / 1) + 1}
    # Query "apple date": its largest normalised weight is date's. Document "apple apple
    # banana": raw weights (2 idf_apple, idf_banana), unit length after dividing by their norm.
    doc_apple = 2 * idf["apple"] / math.hypot(2 * idf["apple"], idf["banana"])
    expected = doc_apple / (2 * idf["date"] / math.hypot(idf["apple"], idf["date"]))
    assert detector.spamicity("Apple date", "apple apple banana") == pytest.approx(expected, rel=1e-12)
    # An unseen query term ("zebra", df 0) has the largest idf and no weight in the document.
    expected = doc_apple / (2 * idf["zebra"] / math.hypot(idf["apple"], idf["zebra"]))
    assert detector.spamicity("apple zebra", "apple apple banana") == pytest.approx(expected, rel=1e-12)
    assert detector.spamicity("apple banana", "banana apple") == pytest.approx(1.0)  # equal weights, nothing else: the maximum
    assert detector.spamicity("apple date", "date apple") < 1  # unequal query weights
    assert detector.threshold == 0.05


def test_osd_spamicity_edge_cases() -> None:
    detector = OSDSpamicity(threshold=0.2)
    with pytest.raises(RuntimeError, match="fit"):
        detector.score(["q"], ["d"])
    detector.fit(tiny_collection(["apple banana", ""]))
    scores = detector.score(["", "...", "apple", "apple"], ["apple banana", "apple", "", " ,. "])
    assert scores.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert detector.threshold == 0.2


def test_keyword_stuffing_raises_spamicity_within_its_bounds(cranfield) -> None:
    detector = OSDSpamicity()
    detector.fit(cranfield)
    queries, qrels = cranfield.split("test")
    for qid in sorted(queries)[:10]:
        query = queries[qid]
        for doc_id in sorted(qrels[qid])[:3]:
            clean = cranfield.docs[doc_id]
            once, twice = (detector.spamicity(query, f"{query} " * n + clean) for n in (1, 2))
            assert 0 <= detector.spamicity(query, clean) < once < twice <= 1, (qid, doc_id)


# -- detection AUC ---------------------------------------------------------------------------
def test_auc_is_one_when_stuffing_separates_and_near_half_on_one_distribution(cranfield) -> None:
    osd = OSDSpamicity()
    osd.fit(cranfield)
    query = "transonic shock wave flutter"
    without = [d for d in sorted(cranfield.docs.values()) if not set(d.lower().split()) & set(query.split())][:40]
    assert len(without) == 40
    stuffed = osd.score([query] * 40, [f"{query} {d}" for d in without])
    clean = osd.score([query] * 40, without)
    assert roc_auc(stuffed, clean) == 1.0 and roc_auc(clean, stuffed) == 0.0

    # Two halves of one seeded random sample of documents: the same distribution. Under the
    # null, AUC has mean 1/2 and variance (n1 + n2 + 1) / (12 n1 n2) (Mann–Whitney, no ties).
    perplexity = PerplexityDetector()
    perplexity.fit(cranfield)
    sample = random.Random(11).sample(sorted(cranfield.docs), 600)
    first, second = (perplexity.score([""] * 300, [cranfield.docs[d] for d in half]) for half in (sample[:300], sample[300:]))
    bound = 4 * math.sqrt((300 + 300 + 1) / (12 * 300 * 300))
    assert abs(roc_auc(first, second) - 0.5) < bound


def test_perplexity_detector_scores_documents_not_queries(cranfield) -> None:
    detector = PerplexityDetector(order=2)
    with pytest.raises(ConfigError, match="estimated on a collection"):
        detector.score(["q"], ["d"])
    detector.fit(cranfield)
    docs = [cranfield.docs[d] for d in sorted(cranfield.docs)[:5]]
    scores = detector.score(["one query"] * 5, docs)
    assert detector.score(["another query"] * 5, docs) == pytest.approx(scores)
    model = build_language_model("ngram", cranfield, order=2)
    assert scores == pytest.approx(model.perplexities(docs))
    assert detector.threshold is None


def test_detection_task_runs_both_detectors(tmp_path) -> None:
    """Both detectors in one task score the same adversarial and clean documents."""
    spec = {
        "name": "detection", "seed": 4, "dataset": "cranfield", "max_queries": 6, "candidates_k": 30, "rankers": ["bm25"],
        "tasks": [{"name": "detection", "params": {"detector": ["osd_spamicity", "perplexity"], "max_queries": 3}}],
    }
    results = run_benchmark(spec, output_dir=tmp_path, progress=False)
    assert not results.errors, results.errors
    summary = results.data["tasks"]["detection"]["bm25"]["summary"]
    assert set(summary) == {"query+start · osd_spamicity", "query+start · perplexity"}
    osd, perplexity = summary["query+start · osd_spamicity"], summary["query+start · perplexity"]
    assert osd["auc"] > 0.5  # the query at the start of a document is caught
    assert 0.0 <= perplexity["auc"] <= 1.0  # fitted without the scored documents: no memory to lean on
    for figures in (osd, perplexity):
        assert 0 < figures["n_adversarial"] <= 3 * 10 and figures["n_clean"] == 3 * 30 - figures["n_adversarial"]
    assert (osd["n_adversarial"], osd["n_clean"]) == (perplexity["n_adversarial"], perplexity["n_clean"])
    assert 0 <= osd["false_positive_rate"] <= 100 and 0 <= osd["detection_rate"] <= 100
    assert "detection_rate" not in perplexity  # no threshold: AUC only


class RecordingDetector:
    """Writes the documents it was fitted on and those it scored to $RECORD_DIR (the runner
    imports this file as its own module, so class attributes would not reach the test)."""

    name = "recording"
    threshold = None

    def fit(self, collection) -> None:
        (Path(os.environ["RECORD_DIR"]) / "fitted.json").write_text(json.dumps(sorted(collection.docs.values())))

    def score(self, queries, docs):
        path = Path(os.environ["RECORD_DIR"]) / "scored.json"
        seen = json.loads(path.read_text()) if path.exists() else []
        path.write_text(json.dumps(seen + list(docs)))
        return np.zeros(len(docs))


def test_the_detection_task_fits_detectors_without_the_documents_it_scores(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("RECORD_DIR", str(tmp_path))
    spec = {
        "name": "detection", "seed": 4, "dataset": "cranfield", "max_queries": 6, "candidates_k": 30, "rankers": ["bm25"],
        "tasks": [{"name": "detection", "params": {"detector": f"{Path(__file__)}:RecordingDetector", "max_queries": 3}}],
    }
    results = run_benchmark(spec, output_dir=tmp_path / "out", progress=False)
    assert not results.errors, results.errors
    fitted, scored = (set(json.loads((tmp_path / f"{name}.json").read_text())) for name in ("fitted", "scored"))
    assert len(scored) >= 30 and len(fitted) > 1000
    assert not scored & fitted


class PreparedStuffing:
    """Prepends the query, but only once its setup hook has run (as PRADA needs its surrogate)."""

    name = "prepared-stuffing"

    def __init__(self) -> None:
        self.prepared = False

    def setup(self, setup) -> dict:
        self.prepared = setup.engine is not None
        return {"victim queries": 0}

    def attack(self, target, victim, rng):
        from robustness.protocols.attack import AttackOutcome, Edit, apply_edits

        if not self.prepared:
            raise RuntimeError("attacked before setup")
        edits = [Edit.insert(0, f"{target.query} ")]
        return AttackOutcome(apply_edits(target.text, edits), edits)


def test_the_detection_task_sets_attacks_up_before_attacking(tmp_path) -> None:
    spec = {
        "name": "detection", "seed": 4, "dataset": "cranfield", "max_queries": 6, "candidates_k": 30, "rankers": ["bm25"],
        "tasks": [{"name": "detection", "params": {"detector": "osd_spamicity", "attacks": [f"{Path(__file__)}:PreparedStuffing"], "max_queries": 2}}],
    }
    results = run_benchmark(spec, output_dir=tmp_path, progress=False)
    assert not results.errors, results.errors
    assert results.data["tasks"]["detection"]["bm25"]["summary"]["prepared-stuffing"]["n_adversarial"] > 0
