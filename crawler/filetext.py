"""Text of attached files: a file's bytes (or path) → :class:`FileText`.

A pure stage beside ``extract``: no network, no database. The files come from strangers, so
every reader is bounded here: the file's size (:data:`MAX_FILE_BYTES`), pages read
(:data:`MAX_PAGES`), bytes unpacked from a zip (:data:`MAX_UNZIPPED_BYTES`, checked against the
zip's directory *before* anything is inflated, and again while reading) and characters kept
(:data:`MAX_TEXT_CHARS`). Time limits and crashes inside the native parsers (PDFium, calamine)
are the caller's job: run :func:`file_text` in a worker process (``crawler.workers``) with a
deadline. :func:`file_text` itself never raises; a file it cannot read gives a ``FileText`` whose
``status`` and ``reason`` say why.

Formats and readers:

============  =====================================================================
PDF           pypdfium2 (PDFium), page by page; no text layer → ``needs-ocr``
DOCX          the zip's ``word/document.xml`` read directly (paragraphs; table rows tab-separated)
XLSX, XLS,    python-calamine, every sheet, cells row by row (tab-separated)
ET, ODS
DOC, WPS      olefile + the Word 97 piece table (Kingsoft WPS saves the same format)
OFD           the zip's XML read directly (GB/T 33190: OFD.xml → Document.xml → pages)
RTF           striprtf, with the file's ``\\ansicpg`` code page
TXT, CSV      crawler.encoding
HTML          crawler.extract
============  =====================================================================
"""

from __future__ import annotations

import io
import re
import struct
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree

from .encoding import charset_from_content_type, decode_html
from .extract import Attachment, Document, extract

__all__ = ["FileText", "Status", "disposition_filename", "file_document", "file_kind", "file_name",
           "file_text", "is_file_response"]

#: Files larger than this are not read (the fetcher's own cap, ``max_bytes``, is usually lower).
MAX_FILE_BYTES = 64 * 1024 * 1024
#: Pages read of a PDF or OFD; the rest is left out and the reason says so.
MAX_PAGES = 1000
#: Bytes a zip-based file (DOCX, XLSX, OFD) may unpack to, summed over the members read.
MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
#: Characters of text kept per file.
MAX_TEXT_CHARS = 2_000_000
#: Below this many characters per page on average, a PDF is taken for a scan without a text layer.
MIN_CHARS_PER_PAGE = 10
#: Seconds a worker may spend on one file before it is stopped (used by the caller).
TIME_LIMIT = 60.0

Status = Literal["ok", "empty", "needs-ocr", "unsupported", "too-large", "failed"]


@dataclass(frozen=True)
class FileText:
    """What a file says: its kind, its text (paragraphs separated by newlines), and how it went."""

    kind: str
    text: str = ""
    #: Pages in the file (PDF, OFD), or None where the format has none.
    pages: int | None = None
    status: Status = "ok"
    #: Why the text is missing or partial ("encrypted", "first 1000 of 10000 pages" …).
    reason: str = ""


class _Unreadable(Exception):
    """The file cannot be read; the message is the reason recorded."""

    def __init__(self, reason: str, status: Status = "failed") -> None:
        super().__init__(reason)
        self.status = status


Source = bytes | str | Path

# ---------------------------------------------------------------------------------------------
# Kinds: magic bytes first, then the file name and the Content-Type
# ---------------------------------------------------------------------------------------------

#: File name extensions → kind, for files that have no magic bytes of their own (text formats).
EXTENSION_KINDS = {"txt": "txt", "csv": "txt", "htm": "html", "html": "html", "shtml": "html",
                   "rtf": "rtf", "pdf": "pdf", "doc": "doc", "wps": "doc", "docx": "docx", "xls": "xls",
                   "et": "xls", "xlsx": "xlsx", "ods": "xlsx", "ofd": "ofd"}
#: Content-Type (without parameters) → kind, for the same.
CONTENT_TYPE_KINDS = {"text/plain": "txt", "text/csv": "txt", "text/html": "html", "application/rtf": "rtf",
                      "text/rtf": "rtf", "application/pdf": "pdf", "application/msword": "doc",
                      "application/vnd.ms-excel": "xls", "application/ofd": "ofd",
                      "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
                      "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx"}
#: Zip members that tell the zip-based formats apart.
ZIP_MARKERS = (("word/document.xml", "docx"), ("xl/workbook.xml", "xlsx"), ("OFD.xml", "ofd"),
               ("content.xml", "xlsx"))
#: OLE streams that tell the OLE formats apart (Kingsoft WPS and ET use Word's and Excel's).
OLE_MARKERS = (("WordDocument", "doc"), ("Workbook", "xls"), ("Book", "xls"))


def file_kind(head: bytes, name: str = "", content_type: str = "") -> str:
    """The format of a file from its first bytes, else its name, else its Content-Type ("" if none)."""
    start = head.lstrip()[:8]
    if start.startswith(b"%PDF-"):
        return "pdf"
    if start.startswith(b"PK\x03\x04"):
        return "zip"
    if start.startswith(b"\xd0\xcf\x11\xe0"):
        return "ole"
    if start.startswith(b"{\\rtf"):
        return "rtf"
    ext = PurePosixPath(name.lower()).suffix.lstrip(".")
    if ext in EXTENSION_KINDS:
        return EXTENSION_KINDS[ext]
    mime = content_type.split(";", 1)[0].strip().lower()
    return CONTENT_TYPE_KINDS.get(mime, "")


#: Magic-byte kinds that are files whatever the server calls them (``file_kind``'s first answers).
FILE_MAGIC_KINDS = frozenset({"pdf", "zip", "ole", "rtf"})
_DISPOSITION_STAR = re.compile(r"filename\*\s*=\s*([\w-]+)'[^']*'([^;]+)", re.IGNORECASE)
_DISPOSITION = re.compile(r"""filename\s*=\s*(?:"([^"]*)"|([^;]+))""", re.IGNORECASE)


def disposition_filename(value: str) -> str:
    """The file name a Content-Disposition header gives ("" if none).

    ``filename*=UTF-8''…`` (RFC 6266) first; a plain ``filename`` is often raw UTF-8 or GBK bytes,
    which HTTP clients hand over as Latin-1 text, so it is re-decoded.
    """
    star = _DISPOSITION_STAR.search(value or "")
    if star:
        try:
            return unquote(star.group(2).strip(), encoding=star.group(1), errors="strict")
        except (LookupError, UnicodeDecodeError):
            pass
    plain = _DISPOSITION.search(value or "")
    if not plain:
        return ""
    name = (plain.group(1) if plain.group(1) is not None else plain.group(2)).strip()
    try:
        raw = name.encode("latin-1")
    except UnicodeEncodeError:
        return unquote(name)
    # Short GBK names often decode as UTF-8 too, into Greek, Hebrew …: UTF-8 only if it reads as Chinese.
    if _decodes(raw, "utf-8") and not _NOT_CHINESE.search(raw.decode("utf-8")):
        return unquote(raw.decode("utf-8"))
    return unquote(raw.decode("gb18030") if _decodes(raw, "gb18030") else name)


#: Non-ASCII characters that are not Chinese or its punctuation.
_NOT_CHINESE = re.compile(r"[^\x00-\x7f\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def _decodes(raw: bytes, encoding: str) -> bool:
    try:
        raw.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def is_file_response(head: bytes, headers: Mapping[str, str]) -> bool:
    """Whether a response is a file (PDF, Word …) rather than a web page.

    Its first bytes decide when they are a file's magic; else a Content-Disposition that names a
    file, else a Content-Type of a file format (a page served as text/html is a page).
    """
    if file_kind(head) in FILE_MAGIC_KINDS:
        return True
    mime = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if mime in ("text/html", "application/xhtml+xml") or head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"<":
        return False  # a page, whatever else the headers say (servers mislabel .shtml pages)
    if disposition_filename(headers.get("content-disposition", "")):
        return True
    return mime in CONTENT_TYPE_KINDS or mime in ("application/octet-stream", "application/zip")


def file_name(url: str, headers: Mapping[str, str], link_text: str = "") -> str:
    """The best name of a downloaded file: Content-Disposition, a ``fileName=`` in the URL, the
    URL's last path segment when it has an extension, else the link's text."""
    named = disposition_filename(headers.get("content-disposition", ""))
    if named:
        return named
    parts = urlsplit(url)
    for key, value in (pair.partition("=")[::2] for pair in parts.query.split("&")):
        if key.lower() in ("filename", "name", "file") and "." in value:
            return unquote(value)
    last = unquote(parts.path.rsplit("/", 1)[-1])
    return last if "." in last or not link_text else link_text


def file_document(url: str, title: str, text: FileText | str) -> Document:
    """The document a column lists as a file: titled as listed, the file's text its body, and the
    file its own attachment (so it is stored, versioned by its hash and offered for download)."""
    text = text if isinstance(text, FileText) else FileText("", text)
    problem = "" if text.text else f"file {text.status}: {text.reason}".rstrip(": ")
    return Document(title=title, body=text.text, attachments=(Attachment(url=url, text=title),),
                    problem=problem)


# ---------------------------------------------------------------------------------------------
# The entry point
# ---------------------------------------------------------------------------------------------


def file_text(source: Source, name: str = "", content_type: str = "") -> FileText:
    """Read the text of a file given as bytes or a path; ``name`` and ``content_type`` help tell
    formats without magic bytes (text, HTML). Never raises."""
    kind = ""
    try:
        size = len(source) if isinstance(source, bytes) else Path(source).stat().st_size
        if size > MAX_FILE_BYTES:
            raise _Unreadable(f"file of {size} bytes, over {MAX_FILE_BYTES}", "too-large")
        with _open(source) as f:
            kind = file_kind(f.read(16), name, content_type)
            f.seek(0)
            if kind == "zip":
                kind = _zip_kind(f)
            elif kind == "ole":
                kind = _ole_kind(f)
            reader = READERS.get(kind)
            if reader is None:
                raise _Unreadable(f"no text reader for {kind or 'this kind of file'}", "unsupported")
            f.seek(0)
            text, pages, reason = reader(f, content_type)
    except _Unreadable as e:
        return FileText(kind, status=e.status, reason=str(e))
    except MemoryError:
        return FileText(kind, status="failed", reason="out of memory")
    except Exception as e:  # noqa: BLE001 - any parser error fails this file alone, with its reason
        return FileText(kind, status="failed", reason=f"{type(e).__name__}: {e}"[:300])
    text = _tidy(text)
    if len(text) > MAX_TEXT_CHARS:
        text, reason = text[:MAX_TEXT_CHARS], reason or f"text cut at {MAX_TEXT_CHARS} characters"
    if pages and len("".join(text.split())) < MIN_CHARS_PER_PAGE * min(pages, MAX_PAGES):
        return FileText(kind, text, pages, "needs-ocr", reason or "no text layer (a scan?)")
    return FileText(kind, text, pages, "ok" if text else "empty", reason)


def _open(source: Source) -> IO[bytes]:
    return io.BytesIO(source) if isinstance(source, bytes) else open(source, "rb")


_BLANKS = re.compile(r"[ \t\u3000\xa0]+")


def _tidy(text: str) -> str:
    """One paragraph per line, spaces squeezed, no empty lines, no control characters."""
    lines = (_BLANKS.sub(lambda m: "\t" if "\t" in m.group() else " ", line).strip()
             for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"))
    return "\n".join(line for line in lines if line).replace("\x00", "")


Reader = Callable[[IO[bytes], str], tuple[str, int | None, str]]

# ---------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------


def _pdf(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    import pypdfium2 as pdfium  # native: imported where used, in the worker

    try:
        pdf = pdfium.PdfDocument(f)  # read lazily, as pages need it
    except pdfium.PdfiumError as e:
        raise _Unreadable(f"not a readable PDF: {e}") from None
    try:
        total = len(pdf)
        texts = []
        for i in range(min(total, MAX_PAGES)):
            page = pdf[i]
            textpage = page.get_textpage()
            texts.append(textpage.get_text_range())
            textpage.close()
            page.close()
    finally:
        pdf.close()
    reason = f"first {MAX_PAGES} of {total} pages" if total > MAX_PAGES else ""
    return "\n".join(texts), total, reason


# ---------------------------------------------------------------------------------------------
# Zip-based: DOCX, XLSX, OFD
# ---------------------------------------------------------------------------------------------


def _zip_kind(f: IO[bytes]) -> str:
    try:
        names = set(zipfile.ZipFile(f).namelist())
    except zipfile.BadZipFile as e:
        raise _Unreadable(f"damaged zip: {e}") from None
    return next((kind for marker, kind in ZIP_MARKERS if marker in names), "archive")


class _Zip:
    """A zip whose members are read with a budget of unpacked bytes for the whole file."""

    def __init__(self, f: IO[bytes]) -> None:
        self.zip = zipfile.ZipFile(f)
        declared = sum(i.file_size for i in self.zip.infolist())
        if declared > MAX_UNZIPPED_BYTES:  # a zip bomb announces itself in the directory
            raise _Unreadable(f"unpacks to {declared} bytes, over {MAX_UNZIPPED_BYTES}", "too-large")
        self.left = MAX_UNZIPPED_BYTES

    def read(self, name: str) -> bytes:
        with self.zip.open(name) as member:  # the directory may lie: count what really comes out
            data = member.read(self.left + 1)
        if len(data) > self.left:
            raise _Unreadable(f"unpacks to over {MAX_UNZIPPED_BYTES} bytes", "too-large")
        self.left -= len(data)
        return data

    def has(self, name: str) -> bool:
        return name in self.zip.NameToInfo


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _docx(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    xml = _Zip(f).read("word/document.xml")
    out: list[str] = []
    para: list[str] = []
    cell: list[str] = []  # paragraphs of the current table cell
    row: list[str] = []  # cells of the current table row
    depth = 0  # table nesting: a nested table's text joins its outer cell
    for event, el in ElementTree.iterparse(io.BytesIO(xml), events=("start", "end")):
        tag = _local(el.tag)
        if event == "start":
            depth += tag == "tbl"
            continue
        if tag == "t":
            para.append(el.text or "")
        elif tag == "tab":
            para.append("\t")
        elif tag in ("br", "cr"):
            para.append("\n")
        elif tag == "p":
            (cell if depth else out).append("".join(para))
            para = []
        elif tag == "tc" and depth == 1:
            row.append(" ".join(p.strip() for p in cell if p.strip()))
            cell = []
        elif tag == "tr" and depth == 1:
            out.append("\t".join(c for c in row if c))
            row = []
        elif tag == "tbl":
            depth -= 1
        el.clear()
    return "\n".join(out), None, ""


def _ofd(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    z = _Zip(f)
    root = ElementTree.fromstring(z.read("OFD.xml"))
    doc_root = next((el.text or "" for el in root.iter() if _local(el.tag) == "DocRoot"), "").strip()
    if not doc_root or not z.has(doc_root.lstrip("/")):
        raise _Unreadable("OFD without a DocRoot document")
    doc_path = PurePosixPath(doc_root.lstrip("/"))
    document = ElementTree.fromstring(z.read(str(doc_path)))
    pages = [el.get("BaseLoc", "") for el in document.iter() if _local(el.tag) == "Page"]
    texts = []
    for loc in pages[:MAX_PAGES]:
        path = _ofd_path(doc_path.parent, loc)
        if path and z.has(path):
            texts.append(_ofd_page(z.read(path)))
    reason = f"first {MAX_PAGES} of {len(pages)} pages" if len(pages) > MAX_PAGES else ""
    return "\n".join(texts), len(pages), reason


def _ofd_path(base: PurePosixPath, loc: str) -> str:
    """A page's BaseLoc: absolute from the package root, or relative to the document's folder."""
    loc = loc.strip()
    parts = (PurePosixPath(loc.lstrip("/")) if loc.startswith("/") else base / loc).parts
    clean: list[str] = []
    for part in parts:
        if part == "..":
            if clean:
                clean.pop()
        elif part not in (".", ""):
            clean.append(part)
    return "/".join(clean)


def _ofd_page(xml: bytes) -> str:
    """Text objects of one page; those on one baseline (same Boundary y) make one line."""
    lines: list[str] = []
    last_y: float | None = None
    for el in ElementTree.fromstring(xml).iter():
        if _local(el.tag) != "TextObject":
            continue
        text = "".join(code.text or "" for code in el.iter() if _local(code.tag) == "TextCode")
        try:
            y = float((el.get("Boundary") or "0 0").split()[1])
        except (IndexError, ValueError):
            y = None
        if lines and y is not None and last_y is not None and abs(y - last_y) < 1.0:
            lines[-1] += text
        else:
            lines.append(text)
        last_y = y
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Spreadsheets: XLSX, XLS, ET, ODS
# ---------------------------------------------------------------------------------------------


def _sheets(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    from python_calamine import CalamineWorkbook  # native: imported where used, in the worker

    if f.read(4) == b"PK\x03\x04":
        f.seek(0)
        _Zip(f)  # refuses a bomb before calamine inflates it
    f.seek(0)
    book = CalamineWorkbook.from_filelike(f)
    out: list[str] = []
    size = 0
    for name in book.sheet_names:
        out.append(name)
        for row in book.get_sheet_by_name(name).iter_rows():
            line = "\t".join(_cell(v) for v in row).rstrip("\t")
            size += len(line)
            if size > MAX_TEXT_CHARS:
                return "\n".join(out), None, f"text cut at {MAX_TEXT_CHARS} characters"
            out.append(line)
    return "\n".join(out), None, ""


def _cell(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()  # type: ignore[no-any-return]
    return str(value).replace("\n", " ").replace("\t", " ")


# ---------------------------------------------------------------------------------------------
# OLE: DOC and WPS (Word 97 binary), XLS and ET
# ---------------------------------------------------------------------------------------------


def _ole_kind(f: IO[bytes]) -> str:
    import olefile

    try:
        ole = olefile.OleFileIO(f)
    except OSError as e:
        raise _Unreadable(f"damaged OLE file: {e}") from None
    try:
        return next((kind for stream, kind in OLE_MARKERS if ole.exists(stream)), "ole")
    finally:
        ole.close()


#: Word 97 FIB offsets ([MS-DOC] 2.5.1): flags, main text length, and the piece table (Clx).
_FIB_FLAGS, _FIB_CCP_TEXT, _FIB_FC_CLX, _FIB_LCB_CLX = 0x0A, 0x4C, 0x1A2, 0x1A6
#: The FIB version (nFib) of Word 97; Word 6/95 files put the piece table elsewhere.
_NFIB_WORD97 = 0x00C1
#: Field codes: begin, separator (the shown result follows), end; the code itself is dropped.
_FIELD_BEGIN, _FIELD_SEP, _FIELD_END = "\x13", "\x14", "\x15"
#: Word's control characters → text: paragraph/cell/row ends, line and page breaks.
_WORD_CONTROLS = str.maketrans({"\r": "\n", "\x07": "\t", "\x0b": "\n", "\x0c": "\n", "\x1e": "-",
                                "\x1f": "", "\x01": "", "\x08": "", "\x02": "", "\x05": ""})


def _doc(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    import olefile

    ole = olefile.OleFileIO(f)
    try:
        word = ole.openstream("WordDocument").read()
        ident, nfib = struct.unpack_from("<HH", word, 0) if len(word) >= _FIB_LCB_CLX + 4 else (0, 0)
        if ident != 0xA5EC or nfib < _NFIB_WORD97:
            raise _Unreadable("not a Word 97 document (older Word or WPS format)", "unsupported")
        flags = struct.unpack_from("<H", word, _FIB_FLAGS)[0]
        if flags & 0x0100:
            raise _Unreadable("encrypted document", "unsupported")
        table_name = "1Table" if flags & 0x0200 else "0Table"
        if not ole.exists(table_name):
            raise _Unreadable(f"no {table_name} stream")
        table = ole.openstream(table_name).read()
    finally:
        ole.close()
    ccp_text = struct.unpack_from("<i", word, _FIB_CCP_TEXT)[0]
    fc_clx, lcb_clx = struct.unpack_from("<II", word, _FIB_FC_CLX)
    text = "".join(_pieces(word, table[fc_clx:fc_clx + lcb_clx], ccp_text))
    # A table row ends with a cell mark and a row mark (two \x07): a row is a line, cells tab-separated.
    return _drop_field_codes(text).replace("\x07\x07", "\n").translate(_WORD_CONTROLS), None, ""


def _pieces(word: bytes, clx: bytes, ccp_text: int) -> Iterator[str]:
    """The main text, piece by piece, from the Clx's piece table ([MS-DOC] 2.9.38)."""
    i = 0
    while i < len(clx) and clx[i] == 0x01:  # Prc: formatting we skip
        i += 3 + struct.unpack_from("<h", clx, i + 1)[0]
    if i >= len(clx) or clx[i] != 0x02:
        raise _Unreadable("no piece table in the document")
    size = struct.unpack_from("<I", clx, i + 1)[0]
    plc = clx[i + 5:i + 5 + size]
    count = (len(plc) - 4) // 12
    cps = struct.unpack_from(f"<{count + 1}I", plc, 0)
    for n in range(count):
        start, end = cps[n], min(cps[n + 1], ccp_text)
        if start >= end:
            break
        fc = struct.unpack_from("<I", plc, 4 * (count + 1) + 8 * n + 2)[0]
        if fc & 0x40000000:  # 8-bit text ("compressed"), at half the stored offset
            offset = (fc & ~0x40000000) // 2
            yield word[offset:offset + end - start].decode("cp1252", errors="replace")
        else:
            yield word[fc:fc + 2 * (end - start)].decode("utf-16-le", errors="replace")


def _drop_field_codes(text: str) -> str:
    """Keep a field's shown result, drop its code (``HYPERLINK "…"``, ``PAGE`` …), nested too."""
    out: list[str] = []
    stack: list[bool] = []  # per open field: whether we are past its separator
    for ch in text:
        if ch == _FIELD_BEGIN:
            stack.append(False)
        elif ch == _FIELD_SEP and stack:
            stack[-1] = True
        elif ch == _FIELD_END and stack:
            stack.pop()
        elif all(stack):
            out.append(ch)
    return "".join(out)


# ---------------------------------------------------------------------------------------------
# Text formats: RTF, plain text, HTML
# ---------------------------------------------------------------------------------------------

_ANSI_CODEPAGE = re.compile(rb"\\ansicpg(\d+)")


def _rtf(f: IO[bytes], _ctype: str) -> tuple[str, int | None, str]:
    from striprtf.striprtf import rtf_to_text

    raw = f.read()
    page = _ANSI_CODEPAGE.search(raw[:4096])
    codepage = f"cp{page.group(1).decode()}" if page else "cp1252"
    try:
        "".encode(codepage)
    except LookupError:
        codepage = "cp1252"
    return rtf_to_text(raw.decode("latin-1"), encoding=codepage, errors="replace"), None, ""


def _txt(f: IO[bytes], ctype: str) -> tuple[str, int | None, str]:
    return decode_html(f.read(), charset_from_content_type(ctype))[0], None, ""


def _html(f: IO[bytes], ctype: str) -> tuple[str, int | None, str]:
    doc = extract(f.read(), encoding=charset_from_content_type(ctype))
    if doc.problem and not doc.body:
        raise _Unreadable(doc.problem, "empty")
    return "\n".join(part for part in (doc.title, doc.body) if part), None, ""


READERS: dict[str, Reader] = {"pdf": _pdf, "docx": _docx, "xlsx": _sheets, "xls": _sheets, "ofd": _ofd,
                              "doc": _doc, "rtf": _rtf, "txt": _txt, "html": _html}
