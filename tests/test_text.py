"""crawler.text: the fast paths of clean, squeeze and normal give exactly what the plain
definitions give (fingerprints are built from normal)."""

from __future__ import annotations

import re
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crawler.text import clean, nfkc, normal, squeeze

PLAIN_INVISIBLE = re.compile("[\u200b-\u200f\u2060\ufeff]")
#: Invisible marks, whitespace of every kind, characters NFKC changes (full-width, circled,
#: ligatures, composed and combining), Chinese, ASCII.
TRICKY = ("\u200b\u200c\u200d\u200e\u200f\u2060\ufeff \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u1680\u2000\u2028\u2029"
          "\u202f\u205f\u3000ＲＥＰＯＲＴ，。：２０２４㈠①ﬁｶﾞe\u0301Å\u212b\u2126\U0001d400㍻⁵行政复议公开年度ab1:")


def plain_clean(text: str) -> str:
    return " ".join(PLAIN_INVISIBLE.sub("", text).split()) if text else ""


def plain_squeeze(text: str) -> str:
    return "".join(PLAIN_INVISIBLE.sub("", text).split()) if text else ""


def plain_normal(text: str) -> str:
    return plain_squeeze(unicodedata.normalize("NFKC", text)) if text else ""


@settings(max_examples=1000, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(TRICKY), st.characters(codec="utf-8")), max_size=60))
def test_clean_squeeze_and_normal_are_their_plain_definitions(text):
    assert clean(text) == plain_clean(text)
    assert squeeze(text) == plain_squeeze(text)
    assert normal(text) == plain_normal(text)


def test_ascii_and_invisible_only_texts():
    for text in ("", " a \t b ", "\u200b", " \u200b ", "a\u200b b", "a \u200b b", "ＡＢ\ufeff Ｃ", "a\x85b"):
        assert (clean(text), squeeze(text), normal(text)) == (plain_clean(text), plain_squeeze(text),
                                                               plain_normal(text))


# -- nfkc: the fast NFKC is exactly NFKC --------------------------------------------------------

#: Characters that fold on their own, and what may follow them and change the result: combining
#: marks (voiced marks after half-width katakana, accents after Latin), Hangul jamo.
FOLDING = ("ＲＥＰＯＲＴ，。２０２４㈠①ﬁｶﾞﾟe\u0301\u0344\u1100\u1161\u11a8Å\u212b\u2126 \u00a0\u3000"
           "\U0001d400㍻⁵")


@pytest.mark.parametrize("text", ["", "行政复议", "全角ＲＥＰＯＲＴ报告，", "㈠行政复议", "ｶﾞｷﾞ", "e\u0301", "Å",
                                  "政府信息公开条例\u200b（２０１９年修订）", "\U0001d400\U0001d401"])
def test_nfkc_is_unicodedata_nfkc(text):
    assert nfkc(text) == unicodedata.normalize("NFKC", text)


def test_nfkc_of_every_character_of_the_basic_plane_alone_and_before_a_combining_mark():
    for point in (*range(0xD800), *range(0xE000, 0x10000)):
        for text in (chr(point), chr(point) + "\u0301", "ｶ" + chr(point)):
            assert nfkc(text) == unicodedata.normalize("NFKC", text), hex(point)


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.one_of(st.sampled_from(FOLDING), st.characters(codec="utf-8")), max_size=40))
def test_nfkc_of_any_text(text):
    assert nfkc(text) == unicodedata.normalize("NFKC", text)
    assert normal(text) == normal(unicodedata.normalize("NFKC", text))
