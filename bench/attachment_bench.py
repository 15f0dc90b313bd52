#!/usr/bin/env python3
"""PDF text extraction: govarchive's reader (pypdfium2) against pdfminer.six and pypdf.

    python bench/attachment_bench.py [--quick] [--rounds N]

On the same generated PDFs (Chinese text in reportlab's built-in STSong-Light CID font, as many
Chinese government PDFs use unembedded CJK fonts), each reader's pages per second (median of
``--rounds``), how much of the drawn text it gives back (character recall), and the peak memory
(max RSS, in a fresh process per reader) of extracting one large PDF. Peers missing from the
environment are skipped (install requirements/bench.txt).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))
sys.path.insert(0, str(REPO))

import filemaker

PHRASES = ("关于进一步加强安全生产工作的通知", "各乡镇人民政府、县政府各部门：", "为深入贯彻落实上级决策部署，",
           "切实做好高标准农田建设、乡村振兴衔接资金管理和城乡居民养老保险工作，", "现将有关事项通知如下。",
           "一、提高思想认识，压实工作责任。", "二、突出工作重点，强化督促检查。", "三、加强组织领导，确保取得实效。",
           "2024年度预算安排12,345.67万元，较上年增长3.5%。")
LINES_PER_PAGE = 32


def pages_of_text(pages: int, seed: int) -> list[list[str]]:
    return [[PHRASES[(seed + p * 7 + i) % len(PHRASES)] for i in range(LINES_PER_PAGE)] for p in range(pages)]


# -- the readers, each: PDF path → text ---------------------------------------------------------

def govarchive(path: str) -> str:
    from crawler.filetext import file_text

    return file_text(Path(path)).text


def pdfminer_six(path: str) -> str:
    from pdfminer.high_level import extract_text

    return str(extract_text(path))


def pypdf(path: str) -> str:
    from pypdf import PdfReader

    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


READERS: dict[str, Callable[[str], str]] = {"govarchive (pypdfium2)": govarchive,
                                            "pdfminer.six": pdfminer_six, "pypdf": pypdf}
#: What each reader imports before it reads (so memory "of extraction" leaves imports out).
MODULES = {"govarchive (pypdfium2)": ("pypdfium2", "crawler.filetext"), "pdfminer.six": ("pdfminer.high_level",),
           "pypdf": ("pypdf",)}


def available(name: str) -> bool:
    try:
        for module in MODULES[name]:
            __import__(module)
    except ImportError:
        return False
    return True


def recall(text: str, expected: str) -> float:
    """Share of the drawn characters (whitespace aside) that the text gives back."""
    want = Counter("".join(expected.split()))
    got = Counter("".join(text.split()))
    return sum(min(n, got[c]) for c, n in want.items()) / max(1, sum(want.values()))


def high_water_mark() -> float:
    """This process's peak resident memory so far, MiB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss(name: str, path: str) -> tuple[float, float]:
    """(peak RSS MiB after importing the reader, peak RSS MiB after extracting ``path``), fresh process."""
    # VmHWM, not ru_maxrss: on Linux ru_maxrss survives exec, so a child would report its parent's peak.
    code = f"""
import sys, json
sys.path[:0] = {[str(REPO / 'bench'), str(REPO / 'tests'), str(REPO)]!r}
import attachment_bench as b
[__import__(m) for m in b.MODULES[{name!r}]]
before = b.high_water_mark()
text = b.READERS[{name!r}]({path!r})
print(json.dumps([before, b.high_water_mark(), len(text)]))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    before, after, _ = json.loads(out.stdout.strip().splitlines()[-1])
    return before, after


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="tiny files, one round (a smoke run)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    files, pages, large = (2, 3, 30) if args.quick else (10, 20, 1000)
    rounds = 1 if args.quick else args.rounds
    names = [n for n in READERS if available(n)]
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        corpus = []
        for i in range(files):
            text = pages_of_text(pages, i)
            path = Path(tmp) / f"doc{i}.pdf"
            path.write_bytes(filemaker.pdf(text))
            corpus.append((str(path), "\n".join("\n".join(p) for p in text)))
        big = Path(tmp) / "large.pdf"
        big.write_bytes(filemaker.pdf(pages_of_text(large, 99)))
        print(f"generated {files} PDFs of {pages} pages and one of {large} pages "
              f"({big.stat().st_size / 1e6:.1f} MB) in {time.perf_counter() - started:.1f} s\n")
        rows = []
        for name in names:
            read = READERS[name]
            read(corpus[0][0])  # warm up: imports and first-use setup are not extraction
            times = []
            for _ in range(rounds):
                t = time.perf_counter()
                texts = [read(path) for path, _ in corpus]
                times.append(time.perf_counter() - t)
            speed = files * pages / statistics.median(times)
            score = statistics.mean(recall(text, want) for text, (_, want) in zip(texts, corpus, strict=True))
            rows.append((name, speed, score, *peak_rss(name, str(big))))
    base = rows[0][1]
    print(f"| reader | pages/s | vs govarchive | text recall | peak RSS, {large}-page PDF (MiB) | of which extraction |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, speed, score, before, after in rows:
        print(f"| {name} | {speed:,.0f} | {speed / base:.2f}× | {score:.1%} | {after:.0f} | {after - before:+.0f} |")
    print(f"\n{files * pages} pages, median of {rounds} round(s); peak RSS measured in a fresh process per "
          f"reader (after import, then after extracting).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
