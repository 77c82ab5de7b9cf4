"""Word-substitution ranking attack: PRADA (Wu et al., "PRADA: Practical Black-Box Adversarial
Attacks against Neural Ranking Models", TOIS 2023; DESIGN §8.1).

Decision-based black box: the attacker sees only where the victim would rank a document.
PRADA gets its gradients from a surrogate trained on the victim's rankings (`robustness.attacks.surrogate`)
and spends victim queries only to decide which substitutions to keep:

1. word importance: the gradient of the surrogate's pairwise loss (the target against the
   documents the victim lists at the top) with respect to each word's input embeddings, as
   an L2 norm over its word pieces; under the margin loss this ranks words exactly as the
   surrogate score's gradient does (see `SurrogateGuide.importance_and_perturbation`);
2. embedding perturbation: a few PGD-like steps on the words' embeddings that raise the
   surrogate's score of the target;
3. candidates: synonyms of each word (`robustness.attacks.components.SynonymSubstitution`), ordered by
   how close their surrogate input embedding is to the word's perturbed embedding (cosine);
4. greedy decision-based search: words in importance order; the best `candidates_per_step`
   replacements of a word go to the victim in one query batch, and the best is kept only if
   the target's rank improves, until `budget` words changed or the words run out.

The recipe is the `PRADA` class; its parts are the shared constraints and transformation of
`robustness.attacks.components`, the surrogate of `robustness.attacks.surrogate` (which
orders words and candidates) and the decision-based `GreedySearch` of `robustness.attacks.search`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from robustness.errors import ConfigError, RobustnessError
from robustness.protocols.attack import AttackOutcome, AttackSetup, Target, Victim

from robustness.attacks.components import (
    DEFAULT_MAX_SENSES,
    DEFAULT_SAME_INFLECTION,
    DEFAULT_SAME_POS,
    DEFAULT_WINDOW,
    DEFAULT_WINDOW_SIMILARITY,
    SynonymSubstitution,
    WordConstraints,
    WordSequence,
    substitution_options,
)
from robustness.attacks.search import GreedySearch
from robustness.attacks.surrogate import SurrogateConfig, train_surrogate

if TYPE_CHECKING:
    import torch

    from robustness.rankers.cross_encoder import CrossEncoderRanker

__all__ = ["PRADA", "SurrogateGuide"]


@dataclass
class _Encoded:
    """The surrogate's view of (query, target): input embeddings and which pieces form which word."""

    inputs: dict[str, torch.Tensor]
    embeddings: torch.Tensor  # (1, pieces, hidden), detached
    pieces: dict[int, list[int]]  # word position -> piece indices, for words wholly in the window


class SurrogateGuide:
    """The white-box half of PRADA: importance, perturbation and candidate order from a surrogate.

    Works on the surrogate's input embeddings, so it needs a BERT-style cross-encoder whose
    forward pass accepts `inputs_embeds` (any `CrossEncoderRanker` model does) and a fast
    tokenizer (for the character offsets that align word pieces with our words; the
    tokenizer's own `word_ids` would split "covid-19" or "don't" differently from
    `split_tokens`).
    """

    def __init__(self, surrogate: CrossEncoderRanker, pgd_steps: int, epsilon: float, window: int) -> None:
        self.ranker = surrogate
        self.window = window
        self.pgd_steps = pgd_steps
        self.epsilon = epsilon
        self._candidate_vectors: dict[str, torch.Tensor] = {}

    def encode(self, query: str, doc: WordSequence) -> _Encoded:
        """Tokenise as the surrogate scores (query first, the document truncated) and map pieces to words."""
        import torch

        encoded = self.ranker.tokenizer(
            query, doc.text, truncation="only_second", max_length=self.window,
            return_offsets_mapping=True, return_tensors="pt",
        )
        offsets = encoded.pop("offset_mapping")[0].tolist()
        sequence = encoded.sequence_ids(0)
        pieces: dict[int, list[int]] = {}
        for index, (start, end) in enumerate(offsets):
            if sequence[index] == 1 and end > start:
                position = doc.position_at(start)
                if position is not None:
                    pieces.setdefault(position, []).append(index)
        # A word cut by truncation is out of the window: its replacement would be partly unseen.
        pieces = {p: idx for p, idx in pieces.items() if offsets[idx[-1]][1] == doc.span(p)[1]}
        inputs = {k: v.to(self.ranker.device) for k, v in encoded.items()}
        with torch.no_grad():
            embeddings = self.ranker.model.get_input_embeddings()(inputs["input_ids"])
        return _Encoded(inputs, embeddings, pieces)

    def score(self, query: str, texts: list[str]) -> list[float]:
        """The surrogate's scores of `texts` for `query`, reading `window` tokens."""
        return self.ranker.score([query] * len(texts), texts, max_length=self.window).tolist()

    def _score(self, encoded: _Encoded, delta: torch.Tensor) -> torch.Tensor:
        inputs = {k: v for k, v in encoded.inputs.items() if k != "input_ids"}
        return self.ranker.model(inputs_embeds=encoded.embeddings + delta, **inputs).logits[0, 0]

    def gradient(self, encoded: _Encoded, delta: torch.Tensor) -> torch.Tensor:
        """Gradient of the surrogate score with respect to the (perturbed) piece embeddings."""
        import torch

        delta = delta.detach().requires_grad_(True)
        (gradient,) = torch.autograd.grad(self._score(encoded, delta), delta)
        return gradient

    def importance_and_perturbation(
        self, encoded: _Encoded, positions: list[int]
    ) -> tuple[dict[int, float], dict[int, torch.Tensor]]:
        """Each word's importance, and its embedding (mean of its pieces) after `pgd_steps`
        ascent steps on the surrogate score.

        Importance is PRADA's: the L2 norm, over the word's pieces, of the gradient of the
        surrogate's pairwise margin loss max(0, m - s(target) + s(anchor)) against the
        documents the victim lists first. With respect to the target's embeddings, that
        gradient is -(share of anchors within the margin) x grad s(target): a positive multiple
        of the score gradient, the same for every word, so it ranks words exactly as the score
        gradient does. The anchors change nothing but a constant (when none is within the
        margin, the pairwise gradient vanishes and the score gradient still ranks the words),
        so none are scored, and the attack needs nothing from the victim beyond its counted
        rank queries.

        The PGD steps move every word `epsilon` per step along its own normalised gradient (so
        a word's direction, not its gradient's size, decides where it goes); the first step's
        gradient is the importance gradient.
        """
        import torch

        delta = torch.zeros_like(encoded.embeddings)
        gradient = self.gradient(encoded, delta)
        importance = {p: float(gradient[0, encoded.pieces[p]].norm()) for p in positions}
        for step in range(self.pgd_steps):
            if step:
                gradient = self.gradient(encoded, delta)
            for p in positions:
                block = gradient[0, encoded.pieces[p]]
                norm = block.norm()
                if norm > 0:
                    delta[0, encoded.pieces[p]] += self.epsilon * block / norm
        moved = encoded.embeddings + delta
        return importance, {p: moved[0, encoded.pieces[p]].mean(0) for p in positions}

    def order_candidates(self, target: torch.Tensor, candidates: list[str]) -> list[str]:
        """Candidates by cosine of their input embedding (mean of their pieces) with `target`."""
        import torch

        vectors = torch.stack([self.vector(c) for c in candidates])
        similarity = torch.nn.functional.cosine_similarity(vectors, target[None, :], dim=1)
        order = sorted(range(len(candidates)), key=lambda i: (-float(similarity[i]), i))
        return [candidates[i] for i in order]

    def vector(self, word: str) -> torch.Tensor:
        import torch

        if word not in self._candidate_vectors:
            ids = self.ranker.tokenizer(word, add_special_tokens=False, return_tensors="pt")["input_ids"]
            with torch.no_grad():
                vector = self.ranker.model.get_input_embeddings()(ids.to(self.ranker.device))[0].mean(0)
            self._candidate_vectors[word] = vector
        return self._candidate_vectors[word]


class PRADA:
    """PRADA word-substitution attack (Wu et al., TOIS 2023): surrogate-guided, decision-based.

    Parameters (defaults in brackets):
    - `budget`: most words changed per document [20, as in PRADA];
    - `candidates_per_step`: replacements of one word sent to the victim in one batch [3];
      the best is kept only if it improves the target's rank;
    - `pgd_steps`, `epsilon`: embedding-perturbation steps and per-step L2 move of each word's
      embedding [3 steps]; MiniLM's input embeddings have norm ~1;
    - `synonym_source`, `synonym_threshold`, `synonym_k`: where candidates come from
      ["combined" WordNet+GloVe at 0.5, top 50; "glove" at 0.7 is the other reference setting];
    - `protect_query_terms`, `min_similarity`: further constraints (`WordConstraints`);
    - `protect_numbers`, `protect_identifiers`, `max_senses`, `same_pos`, `same_inflection`,
      `window_similarity`, `similarity_window`: substitutions must read as the same text
      (DESIGN §8; `WordConstraints`, `robustness.attacks.constraints`) [numbers, units and
      identifiers protected; candidates from the word's first 2 WordNet senses, in the part
      of speech of its most frequent sense and with its inflection; TextFooler's windowed
      similarity >= 0.96 over 11 words, checked before a swap goes to the victim, so a
      rejected swap costs no victim query]; the same defaults as `random_substitution`.
      `protect_numbers=False, protect_identifiers=False, max_senses=None, same_pos=False,
      same_inflection=False, window_similarity=None` is the attack as it was before them;
    - `window`: (query, document) tokens the surrogate reads while attacking, hence the
      words it can rank and change [256, the victims' usual length; MiniLM reads up to 512].
      It may exceed the surrogate's training `max_length` (128 on CPU): on SciFact against
      the MiniLM bi-encoder, 256 instead of 128 raised ASR from 64 to 69 % and Boost from
      3.8 to 6.5 ranks, for twice the victim queries;
    - `keep_rank_ties`: also keep a swap that leaves the rank unchanged when the surrogate
      scores it higher [False: PRADA keeps strict improvements only]. A synonym swap moves a
      bi-encoder's score by ~0.005 while neighbours in the tail of the list are 0.005-0.04
      apart, so no single swap may cross a gap that several together would; ties let
      such gains accumulate (at the cost of spending the word budget);
    - `surrogate`: `SurrogateConfig` fields (e.g. {"n_train_queries": 200}).

    `setup` trains or loads the surrogate; after that the attack reaches the victim only
    through the counted `Victim.ranks`. The search is deterministic: `rng` is not used.
    Edits carry the victim's rank once each was kept.
    """

    name = "prada"

    def __init__(
        self,
        budget: int = 20,
        candidates_per_step: int = 3,
        pgd_steps: int = 3,
        epsilon: float = 0.1,
        synonym_source: str = "combined",
        synonym_threshold: float = 0.5,
        synonym_k: int = 50,
        protect_query_terms: bool = False,
        min_similarity: float | None = None,
        window: int = 256,
        keep_rank_ties: bool = False,
        surrogate: Mapping[str, Any] | None = None,
        protect_numbers: bool = True,
        protect_identifiers: bool = True,
        max_senses: int | None = DEFAULT_MAX_SENSES,
        same_pos: bool = DEFAULT_SAME_POS,
        same_inflection: bool = DEFAULT_SAME_INFLECTION,
        window_similarity: float | None = DEFAULT_WINDOW_SIMILARITY,
        similarity_window: int = DEFAULT_WINDOW,
    ) -> None:
        if not isinstance(pgd_steps, int) or pgd_steps < 0:
            raise ConfigError(f"prada pgd_steps must be an integer >= 0, got {pgd_steps!r}")
        if epsilon <= 0:
            raise ConfigError(f"prada epsilon must be > 0, got {epsilon}")
        if not (isinstance(window, int) and 16 <= window <= 512):
            raise ConfigError(f"prada window must be an integer in [16, 512] tokens, got {window!r}")
        try:
            self.surrogate_config = SurrogateConfig(**dict(surrogate or {}))
        except TypeError as exc:
            raise ConfigError(f"prada surrogate params: {exc}") from None
        self.constraints = WordConstraints(
            budget, protect_query_terms=protect_query_terms, min_similarity=min_similarity,
            protect_numbers=protect_numbers, protect_identifiers=protect_identifiers, max_senses=max_senses,
            same_pos=same_pos, same_inflection=same_inflection, window_similarity=window_similarity,
            similarity_window=similarity_window,
        )
        self.transformation = SynonymSubstitution(synonym_source, synonym_threshold, synonym_k)
        self.constraints.check_source(self.transformation)
        self.search = GreedySearch(candidates_per_step)
        self.pgd_steps = pgd_steps
        self.epsilon = epsilon
        self.window = window
        self.keep_rank_ties = keep_rank_ties
        self._guide: SurrogateGuide | None = None

    def setup(self, setup: AttackSetup) -> dict[str, Any]:
        """Train or load the surrogate of this victim; its figures are the setup's report."""
        surrogate, figures = train_surrogate(setup, self.surrogate_config)
        self._guide = SurrogateGuide(surrogate, self.pgd_steps, self.epsilon, self.window)
        return figures

    def attack(self, target: Target, victim: Victim, rng: random.Random) -> AttackOutcome:
        if self._guide is None:
            raise RobustnessError("prada needs setup(AttackSetup) before attack(): it trains its surrogate there")
        guide = self._guide
        doc = WordSequence(target.text)
        encoded = guide.encode(target.query, doc)
        options = substitution_options(doc, target.query, self.constraints, self.transformation, sorted(encoded.pieces))
        if not options:
            return AttackOutcome(target.text)
        positions = sorted(options)
        importance, perturbed = guide.importance_and_perturbation(encoded, positions)
        order = sorted(positions, key=lambda p: (-importance[p], p))
        tie_break = None
        if self.keep_rank_ties:
            def tie_break(current: str, candidate: str) -> bool:
                before, after = guide.score(target.query, [current, candidate])
                return after > before
        found = self.search.run(
            doc, order, lambda p: guide.order_candidates(perturbed[p], options[p]), victim,
            target.old_ranks, self.constraints.budget, accept=self.constraints.accept, tie_break=tie_break,
        )
        return AttackOutcome(doc.replaced(found.changes), found.edits)
