"""Score list-page discovery on the shared corpus: ``python bench/discover_bench.py [CORPUS]``.

Runs the corpus's own ``discover_eval.py`` against this checkout and prints its table (project vs
the naive every-same-host-link baseline). CORPUS defaults to ``../shared/corpus`` next to the repo.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = ROOT.parent / "shared" / "corpus"


def main(argv: list[str]) -> int:
    corpus = Path(argv[0]) if argv else DEFAULT_CORPUS
    script = corpus / "discover_eval.py"
    if not script.is_file() or not (corpus / "labels.jsonl").is_file():
        print(
            f"discover bench: no corpus at {corpus} (need discover_eval.py and labels.jsonl); "
            "pass its path as the first argument",
            file=sys.stderr,
        )
        return 2
    cmd = [sys.executable, str(script), str(corpus), "--project", str(ROOT), *argv[1:]]
    return subprocess.run(cmd, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
