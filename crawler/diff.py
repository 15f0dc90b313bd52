"""What changed between two versions of a document, as plain text (pure functions).

Used by the Datasette pages (``serve``, which renders it as HTML), the feeds and the notifications.
"""

from __future__ import annotations

import difflib
import json

__all__ = ["ADDED", "FIRST_VERSION", "REMOVED", "SKIPPED", "diff_excerpt", "diff_text", "fields_text",
           "version_text"]

ADDED, REMOVED, SKIPPED = "+ ", "− ", "⋯ "
FIRST_VERSION = "(first version)"
NO_CHANGE = "(no change in the text)"


def fields_text(fields: str | None) -> str:
    """The 信息公开 fields (a JSON object) as ``label：value`` lines; anything else as it is."""
    if not fields:
        return ""
    if not isinstance(fields, str):
        return str(fields)
    try:
        parsed = json.loads(fields)
    except ValueError:
        return fields
    if not isinstance(parsed, dict):
        return fields
    return "\n".join(f"{k}：{v}" for k, v in parsed.items())


def version_text(title: str | None, published: str | None, publisher: str | None,
                 fields: str | None, body: str | None, attachments: str | None = None) -> str:
    """A version as the plain text that versions are compared by: its fields, its body, then the
    text of its attachments (``version_attachments.text``), so a changed file shows what changed."""
    head = [f"标题：{title or ''}", f"发布日期：{published or ''}", f"发布机构：{publisher or ''}"]
    extra = fields_text(fields)
    files = ["", str(attachments)] if attachments else []
    return "\n".join(head + ([extra] if extra else []) + ["", str(body or "")] + files)


def _paragraphs(text: object) -> list[str]:
    return [line.strip() for line in str(text).splitlines() if line.strip()]


def diff_text(old: str | None, new: str | None) -> str | None:
    """What changed from ``old`` to ``new``, paragraph by paragraph, and only that.

    Removed paragraphs start with ``− ``, added ones with ``+ `` (a changed paragraph is both);
    ``⋯ n unchanged`` stands for the paragraphs between changes. ``old`` None: the first version.
    """
    if new is None:
        return None
    if old is None:
        return FIRST_VERSION
    a, b = _paragraphs(old), _paragraphs(new)
    lines: list[str] = []
    opcodes = difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes()
    for tag, a1, a2, b1, b2 in opcodes:
        if tag == "equal":
            lines.append(f"{SKIPPED}{a2 - a1} unchanged")
            continue
        lines.extend(REMOVED + p for p in a[a1:a2])
        lines.extend(ADDED + p for p in b[b1:b2])
    if not any(line.startswith((ADDED, REMOVED)) for line in lines):
        return NO_CHANGE
    return "\n".join(lines)


def diff_excerpt(diff: str | None, limit: int = 300) -> str:
    """The changed lines of a ``diff_text`` result, each cut to fit, at most ``limit`` characters in all."""
    changed = [line for line in (diff or "").splitlines() if line.startswith((ADDED, REMOVED))]
    out: list[str] = []
    used = 0
    for line in changed:
        room = limit - used
        if room < 20:
            out.append("…")
            break
        cut = line if len(line) <= room else line[: room - 1] + "…"
        out.append(cut)
        used += len(cut)
    return "\n".join(out)
