"""Pairwise anchor-based trigger attack (PAT, Order-Disorder: Liu et al., CCS 2022; DESIGN §8.3).

An imitation attack: the victim is only asked to rank training queries, once, to train an
imitation model (`robustness.attacks.imitation`); triggers are then searched on that model
alone and transferred to the victim, which is never asked about an attacked query.

For a target document and a query:

1. anchor: the attacker ranks the query's BM25 top-`anchor_depth` with the imitation model
   and concatenates `anchors` (3) documents drawn from its top-`anchor_pool` (5), kept in rank
   order; the trigger must lift the target above this text of the top;
2. trigger: `length` (6) tokens inserted at `position` (start: prepended), chosen by maximising

       J(τ) = [s(q, τ ⊕ target) − s(q, anchor)] + w_rel · rel(τ) + w_flu · flu(τ) − w_rep · rep(τ)

   - s: the imitation model's score, so the first term is the pairwise margin over the anchor;
   - rel(τ): mean over trigger tokens of their best input-embedding cosine with a token of the
     query or the anchor (PAT's bonus for query- and anchor-related words);
   - flu(τ): mean log-probability per word of the trigger text under a language model
     (`robustness.text.language_model`: a Kneser–Ney n-gram model of the collection offline,
     a Hugging Face causal LM for users who have one);
   - rep(τ): how many trigger tokens repeat an earlier one;
3. search: HotFlip-style. Each step takes the gradient of the margin at the trigger's input
   embeddings, ranks every vocabulary token v at every position i by the first-order gain
   (e_v − e_τi) · ∇_i + w_rel · (rel_v − rel_τi) / length, re-scores the best `candidates` per
   position exactly (every variant in one engine batch, J computed in full) and keeps the best
   variant only if it raises J. So J never falls from step to step; the search stops after
   `steps` steps or when no variant helps.

The vocabulary is the imitation model's whole-word, lower-case alphabetic tokens that read back
as themselves, so the trigger text re-tokenises to the searched tokens and the language model
sees words.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from robustness.data.candidates import bm25_candidates
from robustness.errors import ConfigError, RobustnessError
from robustness.protocols.attack import AttackOutcome, AttackSetup, Edit, Target, Victim, apply_edits
from robustness.text.language_model import DEFAULT_ORDER, LanguageModel, build_language_model, language_model_kind

from robustness.attacks.imitation import ImitationConfig, train_imitation

if TYPE_CHECKING:
    import torch

    from robustness.rankers.cross_encoder import CrossEncoderRanker

__all__ = ["PAT", "TRIGGER_POSITIONS", "TriggerSearch", "trigger_edit", "trigger_vocabulary"]

TRIGGER_POSITIONS = ("start", "end")


@functools.lru_cache(maxsize=4)
def trigger_vocabulary(tokenizer: Any) -> tuple[int, ...]:
    """Ids of the tokenizer's whole-word, lower-case alphabetic tokens of 2+ letters that
    tokenise back to themselves alone: the words a trigger is made of."""
    vocab = tokenizer.get_vocab()
    words = sorted(t for t in vocab if t.isascii() and t.isalpha() and t.islower() and len(t) >= 2)
    encoded = tokenizer(words, add_special_tokens=False)["input_ids"]
    return tuple(sorted(vocab[w] for w, ids in zip(words, encoded) if ids == [vocab[w]]))


def trigger_edit(text: str, trigger: str, position: str) -> Edit:
    """The insertion that puts `trigger` at `position` ("start" or "end") of `text`."""
    if position == "start":
        return Edit.insert(0, f"{trigger} " if text else trigger)
    return Edit.insert(len(text), f" {trigger}" if text else trigger)


@dataclass
class _Step:
    """The search state: trigger tokens, J, and its parts."""

    tokens: list[int]
    objective: float
    margin: float


@dataclass
class TriggerSearch:
    """HotFlip-style search of one trigger under an imitation model (module docstring, step 3).

    `history` holds J after every step (the first entry is the start), for reports and tests.
    """

    model: CrossEncoderRanker
    language_model: LanguageModel
    length: int = 6
    position: str = "start"
    steps: int = 8
    candidates: int = 5
    relevance_weight: float = 1.0
    fluency_weight: float = 0.1
    repetition_weight: float = 0.5
    history: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.vocabulary = np.array(trigger_vocabulary(self.model.tokenizer))
        self._words = self.model.tokenizer.convert_ids_to_tokens(self.vocabulary.tolist())
        self._index = {int(v): i for i, v in enumerate(self.vocabulary)}

    def _embeddings(self) -> torch.Tensor:
        return self.model.model.get_input_embeddings().weight

    def relevance(self, texts: list[str]) -> np.ndarray:
        """rel_v for every vocabulary token: its best input-embedding cosine with a token of `texts`."""
        import torch

        ids = sorted({i for t in texts for i in self.model.tokenizer(t, add_special_tokens=False, truncation=True, max_length=self.model.max_length)["input_ids"]})
        with torch.no_grad():
            table = torch.nn.functional.normalize(self._embeddings().float(), dim=1)
            related = table[torch.tensor(ids, device=table.device)] if ids else table[:0]
            vocab = table[torch.as_tensor(self.vocabulary, device=table.device)]
            best = (vocab @ related.T).max(dim=1).values if ids else torch.zeros(len(vocab), device=table.device)
        return best.cpu().numpy().astype(np.float64)

    def text(self, tokens: list[int]) -> str:
        return " ".join(self._words[self._index[t]] for t in tokens)

    def _objectives(self, query: str, target: str, anchor_score: float, rel: np.ndarray, variants: list[list[int]]) -> list[_Step]:
        """J of every variant, in one engine batch of the imitation model."""
        triggers = [self.text(v) for v in variants]
        texts = [apply_edits(target, [trigger_edit(target, t, self.position)]) for t in triggers]
        scores = self.model.score([query] * len(texts), texts)
        fluency = -np.log(self.language_model.perplexities(triggers))
        steps = []
        for variant, score, flu in zip(variants, scores, fluency):
            margin = float(score) - anchor_score
            relevance = float(np.mean([rel[self._index[t]] for t in variant]))
            repeats = len(variant) - len(set(variant))
            objective = margin + self.relevance_weight * relevance + self.fluency_weight * float(flu) - self.repetition_weight * repeats
            steps.append(_Step(list(variant), objective, margin))
        return steps

    def _gradient(self, query: str, target: str, tokens: list[int]) -> tuple[torch.Tensor | None, list[int]]:
        """∇ of s(q, τ ⊕ target) at the trigger's input embeddings, and which trigger slots
        the model's window holds (a trigger at the end of a long document may be cut off)."""
        import torch

        tokenizer = self.model.tokenizer
        query_ids = tokenizer(query, add_special_tokens=False)["input_ids"][: self.model.max_length // 2]
        doc_ids = tokenizer(target, add_special_tokens=False)["input_ids"]
        room = self.model.max_length - len(query_ids) - 3
        second = (tokens + doc_ids)[:room] if self.position == "start" else (doc_ids + tokens)[:room]
        first_slot = 0 if self.position == "start" else len(doc_ids)
        visible = [i for i in range(self.length) if first_slot + i < len(second)]
        if not visible:
            return None, []
        ids = [tokenizer.cls_token_id, *query_ids, tokenizer.sep_token_id, *second, tokenizer.sep_token_id]
        offset = len(query_ids) + 2 + first_slot  # [CLS] query [SEP]
        device = self.model.device
        inputs = {"attention_mask": torch.ones(1, len(ids), dtype=torch.long, device=device)}
        if "token_type_ids" in tokenizer.model_input_names:
            inputs["token_type_ids"] = torch.tensor([[0] * (len(query_ids) + 2) + [1] * (len(second) + 1)], device=device)
        embeddings = self.model.model.get_input_embeddings()(torch.tensor([ids], device=device)).detach().requires_grad_(True)
        score = self.model.model(inputs_embeds=embeddings, **inputs).logits[0, 0]
        (gradient,) = torch.autograd.grad(score, embeddings)
        return gradient[0, [offset + i for i in visible]], visible

    def run(self, query: str, target: str, anchor: str, rng: random.Random) -> list[int]:
        """The trigger tokens found for (query, target) against `anchor`, from a seeded random start."""
        import torch

        anchor_score = float(self.model.score([query], [anchor])[0])
        rel = self.relevance([query, anchor])
        start = [int(self.vocabulary[rng.randrange(len(self.vocabulary))]) for _ in range(self.length)]
        best = self._objectives(query, target, anchor_score, rel, [start])[0]
        self.history = [best.objective]
        table = self._embeddings().detach()
        vocab_table = table[torch.as_tensor(self.vocabulary, device=table.device)].float()
        for _ in range(self.steps):
            gradient, visible = self._gradient(query, target, best.tokens)
            if gradient is None:
                break
            variants: list[list[int]] = []
            with torch.no_grad():
                for row, slot in enumerate(visible):
                    current = best.tokens[slot]
                    gain = (vocab_table - table[current].float()) @ gradient[row].float()
                    gain = gain.cpu().numpy() + self.relevance_weight * (rel - rel[self._index[current]]) / self.length
                    gain[self._index[current]] = -np.inf
                    for choice in np.argsort(-gain, kind="stable")[: self.candidates]:
                        variant = list(best.tokens)
                        variant[slot] = int(self.vocabulary[choice])
                        variants.append(variant)
            found = max(self._objectives(query, target, anchor_score, rel, variants), key=lambda s: s.objective)
            if found.objective <= best.objective:
                break
            best = found
            self.history.append(best.objective)
        return best.tokens


class PAT:
    """Pairwise anchor-based trigger attack over an imitation of the victim (module docstring).

    Parameters (defaults in brackets):
    - `length` [6] trigger tokens, inserted at `position` ["start"; or "end", where a long
      document's truncation may hide the trigger from the victim, as it would in practice];
    - `steps` [8] search steps, `candidates` [5] exact re-scorings per trigger slot and step
      (one engine batch of length × candidates variants);
    - `anchors` [3] documents drawn from the imitation model's top-`anchor_pool` [5] of the
      query's BM25 top-`anchor_depth` [100], concatenated into the anchor;
    - `relevance_weight` [1.0], `fluency_weight` [0.1], `repetition_weight` [0.5]: the weights
      of J; fluency is a mean log-probability per word (~-5 to -12 nats), the margin a score
      difference of the imitation model (a few units);
    - `language_model` ["ngram": Kneser–Ney of order `lm_order` on the collection; or a local
      folder / Hugging Face causal LM id];
    - `imitation`: `ImitationConfig` fields (e.g. {"n_train_queries": 100}).

    `setup` trains or loads the imitation model and fits the language model; `attack` never
    asks the victim (its victim queries per target are 0; the imitation's are in the setup
    figures). Deterministic under the `rng` it is given.
    """

    name = "pat"

    def __init__(
        self,
        length: int = 6,
        position: str = "start",
        steps: int = 8,
        candidates: int = 5,
        anchors: int = 3,
        anchor_pool: int = 5,
        anchor_depth: int = 100,
        relevance_weight: float = 1.0,
        fluency_weight: float = 0.1,
        repetition_weight: float = 0.5,
        language_model: str = "ngram",
        lm_order: int = DEFAULT_ORDER,
        imitation: Mapping[str, Any] | None = None,
    ) -> None:
        for label, value, least in (("length", length, 1), ("steps", steps, 0), ("candidates", candidates, 1), ("anchors", anchors, 1), ("lm_order", lm_order, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ConfigError(f"pat {label} must be an integer >= {least}, got {value!r}")
        if position not in TRIGGER_POSITIONS:
            raise ConfigError(f"pat position {position!r} is not one of {', '.join(TRIGGER_POSITIONS)}")
        if not (isinstance(anchor_pool, int) and anchors <= anchor_pool <= anchor_depth):
            raise ConfigError(f"pat needs anchors <= anchor_pool <= anchor_depth, got {anchors}, {anchor_pool}, {anchor_depth}")
        for label, weight in (("relevance_weight", relevance_weight), ("fluency_weight", fluency_weight), ("repetition_weight", repetition_weight)):
            if weight < 0:
                raise ConfigError(f"pat {label} must be >= 0, got {weight}")
        language_model_kind(language_model)  # a bad spec fails here, not after training
        try:
            self.imitation_config = ImitationConfig(**dict(imitation or {}))
        except TypeError as exc:
            raise ConfigError(f"pat imitation params: {exc}") from None
        self.length, self.position, self.steps, self.candidates = length, position, steps, candidates
        self.anchors, self.anchor_pool, self.anchor_depth = anchors, anchor_pool, anchor_depth
        self.weights = (relevance_weight, fluency_weight, repetition_weight)
        self.language_model_spec, self.lm_order = language_model, lm_order
        self._search: TriggerSearch | None = None
        self._setup: AttackSetup | None = None
        self._anchor_lists: dict[str, list[str]] = {}

    def setup(self, setup: AttackSetup) -> dict[str, Any]:
        """Train or load the imitation model of this victim and fit the language model."""
        model, figures = train_imitation(setup, self.imitation_config)
        language_model = build_language_model(self.language_model_spec, setup.collection, order=self.lm_order, device=setup.device)
        relevance, fluency, repetition = self.weights
        self._search = TriggerSearch(
            model, language_model, self.length, self.position, self.steps, self.candidates, relevance, fluency, repetition,
        )
        self._setup = setup
        self._anchor_lists = {}
        return figures

    def _anchor(self, target: Target, rng: random.Random) -> str:
        """The concatenated anchor documents for the target's query (target excluded)."""
        assert self._setup is not None and self._search is not None
        collection = self._setup.collection
        if target.query not in self._anchor_lists:
            listed = bm25_candidates(collection, {"q": target.query}, self.anchor_depth)["q"]
            scores = self._search.model.score([target.query] * len(listed), [collection.docs[d] for d in listed]) if listed else np.array([])
            self._anchor_lists[target.query] = [listed[i] for i in np.argsort(-scores, kind="stable")]
        ranked = [d for d in self._anchor_lists[target.query] if d != target.doc_id][: self.anchor_pool]
        if not ranked:
            return ""
        picked = sorted(rng.sample(range(len(ranked)), min(self.anchors, len(ranked))))
        return " ".join(collection.docs[ranked[i]] for i in picked)

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        if self._search is None:
            raise RobustnessError("pat needs setup(AttackSetup) before attack(): it trains its imitation model there")
        anchor = self._anchor(target, rng)
        tokens = self._search.run(target.query, target.text, anchor, rng)
        edit = trigger_edit(target.text, self._search.text(tokens), self.position)
        return AttackOutcome(apply_edits(target.text, [edit]), [edit])
