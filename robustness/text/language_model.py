"""Language models that say how fluent a text is: perplexity-based detection (DESIGN §9.2) and,
later, the fluency term of the imitation attack (§8.3).

Two implementations behind one interface (`LanguageModel`: log-probability and perplexity of
texts, one at a time or in a batch):

- `NGramLanguageModel`: an interpolated Kneser–Ney word n-gram model (order 3 by default)
  estimated on a collection's documents in seconds, pure numpy. It is the default because it
  needs no network and no GPU, and it measures exactly what keyword stuffing breaks: the local
  word order of the collection's prose.
- `CausalLMPerplexity`: any Hugging Face causal LM (a hub id or a local folder), for users who
  have one; imported and loaded only when asked for.

`build_language_model(spec, collection)` turns a spec string ("ngram", a folder, a hub id) into
one of them; fitted n-gram models are kept in memory per collection fingerprint, so every
ranker's detection task reuses one fit.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from robustness.cache import LRU
from robustness.errors import ConfigError
from robustness.text.tokenize import words

__all__ = [
    "BOS",
    "DEFAULT_ORDER",
    "EOS",
    "UNK",
    "CausalLMPerplexity",
    "LanguageModel",
    "NGramLanguageModel",
    "build_language_model",
    "language_model_kind",
    "modified_kn_discounts",
    "sentences",
]

BOS, EOS, UNK = "<s>", "</s>", "<unk>"
DEFAULT_ORDER = 3
FALLBACK_DISCOUNTS = (0.5, 1.0, 1.5)
"""Discounts for counts 1, 2, 3+ when a corpus is too small to estimate them (KenLM's
--discount_fallback values)."""

_SENTENCE_END = re.compile(r"[.!?](?:\s+|$)")  # a full stop inside "0.05" or "e.g" ends nothing
_HUB_ID = re.compile(r"[\w.-]+/[\w.-]+")


def sentences(text: str) -> list[list[str]]:
    """The lower-cased words of `text`, one list per sentence.

    A sentence ends at ".", "!" or "?" followed by whitespace or the end of the text; an
    abbreviation ("Fig. 2") splits a sentence, which costs an n-gram model a little context and
    nothing else. Sentences without a word are dropped, so a text with no word gives [].
    """
    found = ([w.lower() for w in words(part)] for part in _SENTENCE_END.split(text))
    return [s for s in found if s]


class LanguageModel(ABC):
    """Scores texts by their probability; subclasses give each text's total log-probability and
    the number of tokens it predicted, from which everything else follows.

    Perplexity is exp(−log P(text) / N), N the predicted tokens (natural logarithms): the
    inverse geometric mean of the per-token probabilities, comparable across text lengths.
    """

    name: str

    @abstractmethod
    def _totals(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(total natural-log probability, number of predicted tokens) of each text."""

    def log_probs(self, texts: Sequence[str]) -> np.ndarray:
        """Natural-log probability of each text."""
        return self._totals(list(texts))[0]

    def perplexities(self, texts: Sequence[str]) -> np.ndarray:
        """Perplexity of each text (1.0 for a text in which nothing is predicted)."""
        total, count = self._totals(list(texts))
        return np.exp(-total / np.maximum(count, 1))

    def log_prob(self, text: str) -> float:
        return float(self.log_probs([text])[0])

    def perplexity(self, text: str) -> float:
        return float(self.perplexities([text])[0])


def modified_kn_discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """Chen & Goodman's discounts D1, D2, D3+ from the counts-of-counts n1..n4 of one order.

    Y = n1 / (n1 + 2 n2), D_r = r − (r + 1) Y n_{r+1} / n_r. When a count-of-counts is zero or a
    discount leaves (0, r] (tiny corpora), the estimate is meaningless and `FALLBACK_DISCOUNTS`
    are used instead.
    """
    n = [int(np.count_nonzero(counts == r)) for r in (1, 2, 3, 4)]
    if min(n) == 0:
        return FALLBACK_DISCOUNTS
    y = n[0] / (n[0] + 2 * n[1])
    found = tuple(r - (r + 1) * y * n[r] / n[r - 1] for r in (1, 2, 3))
    if not all(0 < d <= r for r, d in zip((1, 2, 3), found)):
        return FALLBACK_DISCOUNTS
    return found  # type: ignore[return-value]


def _discount(counts: np.ndarray, discounts: tuple[float, float, float]) -> np.ndarray:
    """D(c): 0 for an unseen n-gram, else the discount for count 1, 2 or 3+."""
    table = np.array([0.0, *discounts])
    return table[np.minimum(counts, 3).astype(np.int64)]


def _lookup(table: np.ndarray, values: np.ndarray, keys: np.ndarray, default: float) -> np.ndarray:
    """`values` at the positions of `keys` in the sorted `table`; `default` for absent keys."""
    if table.size == 0:
        return np.full(keys.shape, default, dtype=np.float64)
    at = np.minimum(np.searchsorted(table, keys), table.size - 1)
    return np.where(table[at] == keys, values[at], default)


class _Order:
    """One order's tables, sorted by n-gram key: the adjusted count of each n-gram and, per
    context (the n-gram minus its last token), the total count and the discounted mass."""

    def __init__(self, keys: np.ndarray, counts: np.ndarray, base: int, discounts: tuple[float, float, float]) -> None:
        self.keys, self.counts, self.base, self.discounts = keys, counts, base, discounts
        self.contexts, where = np.unique(keys // base, return_inverse=True)
        self.totals = np.bincount(where, weights=counts, minlength=self.contexts.size)
        self.mass = np.bincount(where, weights=_discount(counts, discounts), minlength=self.contexts.size)

    def interpolate(self, keys: np.ndarray, lower: np.ndarray) -> np.ndarray:
        """P(w | h) = (max(c(hw) − D(c(hw)), 0) + mass(h) · P_lower(w | h')) / total(h), where
        mass(h) = Σ_w D(c(hw)); P_lower itself where the context h was never seen."""
        counts = _lookup(self.keys, self.counts, keys, 0.0)
        contexts = keys // self.base
        totals = _lookup(self.contexts, self.totals, contexts, 0.0)
        mass = _lookup(self.contexts, self.mass, contexts, 0.0)
        kept = np.maximum(counts - _discount(counts, self.discounts), 0.0)
        seen = totals > 0
        return np.where(seen, (kept + mass * lower) / np.where(seen, totals, 1.0), lower)


class NGramLanguageModel(LanguageModel):
    """Interpolated modified Kneser–Ney word n-gram model (Chen & Goodman 1999, as in KenLM).

    - Tokens: the lower-cased words of `robustness.text.tokenize`, per sentence (`sentences`);
      each sentence is padded with order − 1 `<s>` and ends with `</s>`, which is predicted.
    - Counts: raw counts at the highest order; below it, continuation counts (how many distinct
      tokens precede the n-gram), except for n-grams starting with `<s>`, which keep raw counts
      (nothing but padding precedes them).
    - Discounts: D1, D2, D3+ per order from its counts-of-counts (`modified_kn_discounts`);
      `discount` instead fixes one discount in (0, 1] for every count: plain interpolated KN.
    - Unknown words: a word not seen in training is `<unk>`; the unigram level interpolates
      with the uniform distribution over the vocabulary (training words, `</s>`, `<unk>`), so
      every token gets a positive probability and every text a finite perplexity; the
      probabilities of the next token sum to 1 over that vocabulary.
    - A text without a word is scored as one empty sentence: the probability of `</s>` right
      after `<s>` (finite, and low for any corpus of real documents).
    N-grams are int64 keys in base |vocabulary| + 1, counted and looked up with numpy (sorting
    and binary search), so fitting SciFact (~1.1M words) takes seconds and scoring is vectorised.
    """

    def __init__(self, order: int = DEFAULT_ORDER, discount: float | None = None) -> None:
        if not isinstance(order, int) or order < 1:
            raise ConfigError(f"n-gram order must be an integer >= 1, got {order!r}")
        if discount is not None and not 0 < discount <= 1:
            raise ConfigError(f"n-gram discount must be in (0, 1] or null (estimated), got {discount!r}")
        self.order = order
        self.discount = discount
        self.name = f"kneser-ney-{order}gram"
        self._ids: dict[str, int] = {BOS: 0, EOS: 1, UNK: 2}
        self._orders: list[_Order] = []

    @property
    def vocabulary(self) -> list[str]:
        """The tokens the model predicts: the training words, `</s>` and `<unk>` (not `<s>`)."""
        return [t for t in self._ids if t != BOS]

    def fit(self, texts: Iterable[str]) -> NGramLanguageModel:
        """Estimate the model on `texts` (documents); returns self."""
        ids = self._ids = {BOS: 0, EOS: 1, UNK: 2}
        pad = [0] * (self.order - 1)
        stream = list(pad)
        for text in texts:
            for sentence in sentences(text):
                stream.extend(ids.setdefault(w, len(ids)) for w in sentence)
                stream.append(1)
                stream.extend(pad)
        base = len(ids)
        if base**self.order >= 2**63:
            raise ConfigError(f"n-gram order {self.order} is too high for a vocabulary of {base} tokens (int64 keys)")
        tokens = np.asarray(stream, dtype=np.int64)
        ends = np.flatnonzero(tokens)  # the positions that predict a token: all but <s> (id 0)
        grams = [np.unique(self._keys(tokens, ends, k), return_counts=True) for k in range(1, self.order + 1)]
        self._orders = []
        for k, (keys, counts) in enumerate(grams, 1):
            if k < self.order:  # continuation counts, except for n-grams that start with <s>
                followers, continuation = np.unique(grams[k][0] % base**k, return_counts=True)
                starts_bos = keys // base ** (k - 1) == 0
                counts = np.where(starts_bos, counts, _lookup(followers, continuation, keys, 0.0))
            discounts = (self.discount,) * 3 if self.discount is not None else modified_kn_discounts(counts)
            self._orders.append(_Order(keys, counts.astype(np.float64), base, discounts))  # type: ignore[arg-type]
        return self

    def _keys(self, tokens: np.ndarray, ends: np.ndarray, k: int) -> np.ndarray:
        """Keys of the k-grams of `tokens` that end at the positions `ends`."""
        base = len(self._ids)
        keys = np.zeros(ends.shape, dtype=np.int64)
        for back in range(k - 1, -1, -1):
            keys = keys * base + tokens[ends - back]
        return keys

    def _probabilities(self, tokens: np.ndarray, ends: np.ndarray) -> np.ndarray:
        """P(token at each of `ends` | the order − 1 tokens before it)."""
        p = np.full(ends.shape, 1.0 / (len(self._ids) - 1))  # uniform over all but <s>
        for k, table in enumerate(self._orders, 1):
            p = table.interpolate(self._keys(tokens, ends, k), p)
        return p

    def _encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Padded token ids of `texts`, the positions to predict, and each position's text."""
        ids = self._ids
        pad = [0] * (self.order - 1)
        stream, owner = list(pad), [-1] * len(pad)
        for i, text in enumerate(texts):
            for sentence in sentences(text) or [[]]:
                stream.extend(ids.get(w, 2) for w in sentence)
                stream.append(1)
                stream.extend(pad)
                owner.extend([i] * (len(sentence) + 1) + [-1] * len(pad))
        tokens = np.asarray(stream, dtype=np.int64)
        ends = np.flatnonzero(tokens)
        return tokens, ends, np.asarray(owner, dtype=np.int64)[ends]

    def _totals(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        if not self._orders:
            raise RuntimeError("the n-gram language model is not fitted: call fit(texts) first")
        tokens, ends, owner = self._encode(texts)
        logp = np.log(self._probabilities(tokens, ends))
        total = np.bincount(owner, weights=logp, minlength=len(texts))
        return total, np.bincount(owner, minlength=len(texts)).astype(np.float64)

    def probability(self, word: str, context: Sequence[str] = ()) -> float:
        """P(word | context): `word` a word, `</s>` or `<unk>` (an unseen word counts as
        `<unk>`); `context` the preceding words, lower-cased here, of which the last order − 1
        count; a shorter context is the start of a sentence."""
        if not self._orders:
            raise RuntimeError("the n-gram language model is not fitted: call fit(texts) first")
        ids = self._ids
        history = [ids.get(w.lower(), 2) for w in context][-(self.order - 1) :] if self.order > 1 else []
        tokens = np.asarray([0] * (self.order - 1 - len(history)) + history + [ids.get(word.lower(), 2)], dtype=np.int64)
        return float(self._probabilities(tokens, np.asarray([tokens.size - 1]))[0])


class CausalLMPerplexity(LanguageModel):
    """Perplexity under a Hugging Face causal LM (`AutoModelForCausalLM`): a hub id (needs the
    network or a filled Hugging Face cache) or a local folder. Loaded on construction, never by
    default: the n-gram model is the offline default.

    Each text's tokens are framed by the tokenizer's BOS token (its EOS where it has none, as
    GPT-2) and its EOS token, so even an empty text predicts one token, and cut to `max_length`
    tokens in all (a model has a window). The log-probability sums the token-level
    log-likelihoods (the negated loss) of every token after the first, so the perplexity is
    exp of the mean token loss, as a causal LM's `labels=` loss gives it. Texts are batched by
    length (little padding), under inference mode with the project's autocast policy
    (`robustness.device`).
    """

    def __init__(self, model: str, device: str = "auto", batch_size: int = 8, max_length: int = 512) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        from robustness.device import pick_device
        from robustness.rankers.loading import load_pretrained

        if batch_size < 1 or max_length < 2:
            raise ConfigError(f"language model batch_size must be >= 1 and max_length >= 2, got {batch_size} and {max_length}")
        self.name = f"causal-lm:{model}"
        self.device = pick_device(device)
        self.batch_size = batch_size
        self.max_length = max_length
        self.tokenizer = load_pretrained(AutoTokenizer, model)
        self.model = load_pretrained(AutoModelForCausalLM, model).to(self.device).eval()
        first = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.tokenizer.eos_token_id
        self._prefix = [] if first is None else [first]
        self._suffix = [] if self.tokenizer.eos_token_id is None else [self.tokenizer.eos_token_id]

    def _ids(self, text: str) -> list[int]:
        body = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        return self._prefix + body[: self.max_length - len(self._prefix) - len(self._suffix)] + self._suffix

    def _totals(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        import torch

        from robustness.device import inference_context

        encoded = [self._ids(t) for t in texts]
        total, count = np.zeros(len(texts)), np.zeros(len(texts))
        order = sorted(range(len(texts)), key=lambda i: len(encoded[i]))  # little padding per batch
        for start in range(0, len(order), self.batch_size):
            batch = order[start : start + self.batch_size]
            width = max(len(encoded[i]) for i in batch)
            if width < 2:  # nothing to predict (a tokenizer without BOS/EOS and an empty text)
                continue
            ids = torch.zeros((len(batch), width), dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, i in enumerate(batch):
                ids[row, : len(encoded[i])] = torch.tensor(encoded[i])
                mask[row, : len(encoded[i])] = 1
            ids, mask = ids.to(self.device), mask.to(self.device)
            with inference_context(self.device):
                logits = self.model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
                logp = -torch.nn.functional.cross_entropy(logits.transpose(1, 2), ids[:, 1:], reduction="none")
                predicted = mask[:, 1:].bool()  # padding predicts nothing (and may hold any value)
                total[batch] = torch.where(predicted, logp, 0.0).sum(dim=1).cpu().numpy()
                count[batch] = predicted.sum(dim=1).cpu().numpy()
        return total, count


class _Corpus(Protocol):
    """What fitting needs of a collection (`robustness.data.Collection`; this layer may not
    import it): its documents and a content fingerprint."""

    docs: Mapping[str, str]

    def fingerprint(self) -> str: ...


_FITTED: LRU[tuple[str, int, float | None], NGramLanguageModel] = LRU(4)


def language_model_kind(spec: str) -> str:
    """"ngram" or "causal-lm" for a spec string, without loading anything; one ConfigError
    line for a spec that is neither.

    A causal LM is named by an existing local folder, a hub id of the form owner/name, or
    `hf:<id>` for a hub id without an owner (`hf:gpt2`): a bare unknown word is a typo more
    often than a hub id, and is refused before any download is tried.
    """
    if spec == "ngram":
        return "ngram"
    if spec.startswith("hf:") and len(spec) > 3:
        return "causal-lm"
    if Path(spec).expanduser().is_dir():
        return "causal-lm"
    if spec.startswith((".", "/", "~")):
        raise ConfigError(f"language model folder {spec!r} does not exist")
    if _HUB_ID.fullmatch(spec):
        return "causal-lm"
    raise ConfigError(f"unknown language model {spec!r}: use 'ngram', a local model folder, or a Hugging Face id (owner/name, or hf:<id>)")


def build_language_model(
    spec: str = "ngram",
    collection: _Corpus | None = None,
    *,
    order: int = DEFAULT_ORDER,
    discount: float | None = None,
    device: str = "auto",
    batch_size: int = 8,
) -> LanguageModel:
    """The language model a spec string names (see `language_model_kind`).

    "ngram" is fitted on `collection`'s documents (required) with `order` and `discount`, and
    kept in memory per (collection fingerprint, order, discount); a causal LM ignores the
    collection and uses `device` and `batch_size`.
    """
    if language_model_kind(spec) == "causal-lm":
        return CausalLMPerplexity(spec.removeprefix("hf:"), device=device, batch_size=batch_size)
    if collection is None:
        raise ConfigError("the 'ngram' language model is estimated on a collection: give one (a detector gets it through fit)")
    key = (collection.fingerprint(), order, discount)
    model = _FITTED.get(key)
    if model is None:
        model = NGramLanguageModel(order, discount).fit(collection.docs.values())
        _FITTED.put(key, model)
    return model
