"""Generated Chinese text with a real vocabulary, and the corpus figures it is shaped after.

The index's cost depends on how long a body is and on how many distinct index tokens (the
bigrams of ``store.search_text``) it has per character: real bodies are short (median about 900
characters) and varied (about 0.42 distinct tokens per character), where the phrase-pool bodies of
the original bench are 15,000 characters with 0.07. This module makes bodies like the real ones:

- words are drawn from a large word list: jieba's dictionary (349,000 words with frequencies) when
  jieba is installed (the bench extra), else a generated list of the same shape (Zipf-distributed
  words of one to four common characters), so the smoke test runs without it;
- a document keeps to a topic, as real ones do (行政复议 comes back again and again in a report on
  it): each draw takes one of the document's own 40 topic words with probability ``topic``, else
  any word by its frequency; ``topic`` is calibrated once so that bodies of the median length have
  the target density;
- lengths, page sizes and the target density come from ``../shared/corpus`` when it is there (its
  detail pages, extracted with ``crawler.extract``), else from the figures measured on it
  (``FALLBACK``).

Nothing of the corpus is copied: only lengths and densities are read, at run time.
"""

from __future__ import annotations

import bisect
import itertools
import json
import math
import random
import statistics
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT.parent / "shared" / "corpus"

__all__ = ["CorpusStats", "Vocabulary", "corpus_stats", "density", "vocabulary"]


@dataclass(frozen=True)
class CorpusStats:
    """What the generated corpus-sized pages imitate."""

    body_lengths: tuple[int, ...]
    page_bytes: tuple[int, ...]
    density: float
    source: str

    @property
    def median_length(self) -> int:
        return int(statistics.median(self.body_lengths))


#: Measured on ../shared/corpus's 20 labelled detail pages (2026-11-29): used without it.
FALLBACK = CorpusStats(
    body_lengths=(190, 248, 284, 316, 598, 687, 701, 748, 792, 871, 957, 1598, 1607, 1726, 2206, 2732,
                  3786, 7882, 9125, 10260),
    page_bytes=(10781, 12131, 18389, 19326, 22499, 26283, 32034, 37379, 44227, 46354, 49607, 53074,
                63136, 64278, 65653, 75992, 82059, 85522, 198327, 422930),
    density=0.426, source="figures measured on the corpus (not present here)")


def density(body: str) -> float:
    """Distinct full-text index tokens per character of ``body``."""
    from crawler.store import search_text

    return len(set(search_text(body).split())) / max(1, len(body))


@cache
def corpus_stats() -> CorpusStats:
    """Body lengths, page sizes and median density of the corpus's detail pages, or FALLBACK."""
    labels = CORPUS / "labels.jsonl"
    if not labels.is_file():
        return FALLBACK
    from crawler.extract import extract

    lengths, sizes, densities = [], [], []
    for line in labels.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        page = CORPUS / "pages" / row["file"]
        if row.get("kind") != "detail" or not page.is_file():
            continue
        raw = page.read_bytes()
        body = extract(raw, row["url"], encoding=row.get("encoding")).body
        if body:
            lengths.append(len(body))
            sizes.append(len(raw))
            densities.append(density(body))
    if len(lengths) < 5:
        return FALLBACK
    return CorpusStats(tuple(sorted(lengths)), tuple(sorted(sizes)), statistics.median(densities),
                       f"{len(lengths)} detail pages of {CORPUS}")


class Vocabulary:
    """Words and their cumulative frequencies; ``text`` draws sentences of them."""

    #: Words a document keeps coming back to.
    TOPIC_WORDS = 40

    def __init__(self, words: list[str], frequencies: list[float], topic: float, source: str) -> None:
        self.words, self.source, self.topic = words, source, topic
        self._frequencies = frequencies
        self._cumulative = list(itertools.accumulate(frequencies))

    def with_topic(self, topic: float) -> Vocabulary:
        return Vocabulary(self.words, self._frequencies, topic, self.source)

    def _word(self, rng: random.Random) -> str:
        return self.words[bisect.bisect(self._cumulative, rng.random() * self._cumulative[-1])]

    def text(self, rng: random.Random, chars: int) -> list[str]:
        """Paragraphs of about ``chars`` characters in all: sentences of drawn words, with numbers."""
        own = [w for w in (self._word(rng) for _ in range(self.TOPIC_WORDS * 3)) if len(w) > 1]
        own = own[: self.TOPIC_WORDS] or [self._word(rng)]
        paragraphs: list[str] = []
        size = 0
        while size < chars:
            sentences = []
            for _ in range(rng.randint(1, 5)):
                n = rng.randint(6, 24)
                picks = [rng.choice(own) if rng.random() < self.topic else self._word(rng) for _ in range(n)]
                if rng.random() < 0.3:
                    picks.insert(rng.randrange(n), f"{rng.randint(1, 2025)}{rng.choice('年月日件个项次元%')}")
                cut = rng.randrange(3, n) if n > 8 else n
                sentences.append("".join(picks[:cut]) + ("，" + "".join(picks[cut:]) if cut < n else "") + "。")
            paragraph = "".join(sentences)
            if size + len(paragraph) > chars + 10:  # the last one cut to length, at a character
                paragraph = paragraph[: max(1, chars - size - 1)] + "。"
            paragraphs.append(paragraph)
            size += len(paragraph)
        return paragraphs


def _cjk(word: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in word)


@cache
def _word_list() -> tuple[list[str], list[float], str]:
    try:
        import jieba
    except ImportError:
        return _generated_words()
    path = Path(jieba.__file__).with_name("dict.txt")
    words, freqs = [], []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and _cjk(parts[0]) and parts[1].isdigit():
            words.append(parts[0])
            freqs.append(float(parts[1]))
    return words, freqs, f"jieba's dictionary ({len(words):,} words)"


def _generated_words() -> tuple[list[str], list[float], str]:
    """Without jieba: 60,000 words of 1–4 characters from the 3,500 commonest code points' block,
    ranked by a Zipf law, about the shape of a real list."""
    rng = random.Random("govarchive:words")
    chars = [chr(c) for c in range(0x4E00, 0x4E00 + 3500)]
    weights = [1 / (rank + 1) for rank in range(len(chars))]
    words = sorted({"".join(rng.choices(chars, weights, k=rng.choice((1, 2, 2, 2, 3, 4))))
                    for _ in range(60_000)})
    rng.shuffle(words)
    return words, [1e6 / (rank + 1) for rank in range(len(words))], f"generated words ({len(words):,})"


@cache
def vocabulary(target: float | None = None, chars: int | None = None) -> Vocabulary:
    """The word list, its topic share calibrated so that bodies of ``chars`` characters (the
    corpus's median) have ``target`` distinct tokens per character (the corpus's)."""
    stats = corpus_stats()
    target = stats.density if target is None else target
    chars = stats.median_length if chars is None else chars
    words, freqs, source = _word_list()
    base = Vocabulary(words, freqs, 0.0, source)

    def measured(topic: float) -> float:
        rng = random.Random("govarchive:calibrate")
        v = base.with_topic(topic)
        return statistics.median(density("".join(v.text(rng, chars))) for _ in range(15))

    low, high = 0.0, 1.0  # density falls as the topic share rises
    for _ in range(8):
        mid = (low + high) / 2
        low, high = (mid, high) if measured(mid) > target else (low, mid)
    return base.with_topic(round((low + high) / 2, 3))


def jittered_pick(rng: random.Random, values: tuple[int, ...]) -> int:
    """One of ``values`` (an empirical distribution), jittered by ±25 % so pages differ."""
    return max(1, int(rng.choice(values) * math.exp(rng.uniform(-0.25, 0.25))))
