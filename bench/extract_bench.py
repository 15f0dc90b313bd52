#!/usr/bin/env python3
"""Score crawler.extract against trafilatura, GNE, readability and jusText on the shared corpus.

    python bench/extract_bench.py [CORPUS] [extra extract_eval.py options, e.g. --rounds 5]

CORPUS defaults to ../shared/corpus relative to the repository root. The corpus (pages,
labels.jsonl and its extract_eval.py) is not part of this repository; without it the bench
stops with exit status 2.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO.parent / "shared" / "corpus"


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv and not argv[0].startswith("-") else DEFAULT_CORPUS
    extra = argv[1:] if argv and not argv[0].startswith("-") else argv
    script = corpus / "extract_eval.py"
    if not (script.is_file() and (corpus / "labels.jsonl").is_file()):
        print(f"extract_bench: no shared corpus at {corpus} (need extract_eval.py and labels.jsonl);\n"
              f"pass its path: python bench/extract_bench.py PATH/TO/corpus", file=sys.stderr)
        return 2
    cmd = [sys.executable, str(script), str(corpus), "--project", str(REPO), *extra]
    return subprocess.call(cmd, cwd=REPO)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
