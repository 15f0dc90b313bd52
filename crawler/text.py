"""Text: the one home of whitespace and comparison rules.

- :func:`clean`: text for display and matching: whitespace runs (full-width and no-break spaces
  too) become one space, invisible marks go, ends are stripped. Characters are otherwise kept
  as written (no NFKC: an archived body keeps its full-width punctuation).
- :func:`squeeze`: the same text without any whitespace (for counting and loose comparisons).
- :func:`normal`: the comparison key of a text: NFKC, then squeezed. Two renderings of one text
  (width, spacing, zero-width characters) give one key; fingerprints are built from it.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["INVISIBLE", "clean", "normal", "squeeze"]

#: Zero-width and direction marks, word joiner, BOM: invisible, and they drift between renderings.
INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")


def clean(text: str) -> str:
    """Whitespace runs → one space; invisible marks dropped; ends stripped."""
    return " ".join(_visible(text).split()) if text else ""


def squeeze(text: str) -> str:
    """The text without whitespace or invisible marks."""
    return "".join(_visible(text).split()) if text else ""


def _visible(text: str) -> str:
    # Invisible marks are rare: searching (O(1) for ASCII text) costs less than substituting.
    return INVISIBLE.sub("", text) if not text.isascii() and INVISIBLE.search(text) else text


def normal(text: str) -> str:
    """The comparison key of ``text``: NFKC, without whitespace or invisible marks."""
    return squeeze(unicodedata.normalize("NFKC", text)) if text else ""
