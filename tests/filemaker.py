"""Attachment fixtures made on the spot: PDF, DOCX, XLSX, XLS, OFD, RTF with Chinese text.

Shared by the tests and bench/attachment_bench.py. DOC/WPS cannot be written by any library
here: tests/fixtures/files/ holds a small one made once with LibreOffice (see its README).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures" / "files"


def pdf(pages: list[list[str]]) -> bytes:
    """A PDF whose pages hold the given lines, in reportlab's built-in CJK font (no font file)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    out = io.BytesIO()
    c = canvas.Canvas(out)
    c.setAuthor("govarchive tests")
    for lines in pages:
        c.setFont("STSong-Light", 12)
        for i, line in enumerate(lines):
            c.drawString(72, 780 - 20 * i, line)
        c.showPage()
    c.save()
    return out.getvalue()


def blank_pdf(pages: int = 2) -> bytes:
    """A PDF with pages and no text: what a scan looks like to a text extractor."""
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    c = canvas.Canvas(out)
    for _ in range(pages):
        c.rect(100, 100, 300, 500, fill=1)
        c.showPage()
    c.save()
    return out.getvalue()


def docx(paragraphs: list[str], table: list[list[str]] | None = None) -> bytes:
    import docx as python_docx

    d = python_docx.Document()
    for p in paragraphs:
        d.add_paragraph(p)
    if table:
        t = d.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                t.cell(r, c).text = value
    out = io.BytesIO()
    d.save(out)
    return out.getvalue()


def xlsx(rows: list[list[object]], sheet: str = "统计表") -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def xls(rows: list[list[object]], sheet: str = "统计表") -> bytes:
    import xlwt

    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet(sheet)
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def ofd(pages: list[list[str]]) -> bytes:
    """A minimal OFD (GB/T 33190): OFD.xml → Doc_0/Document.xml → Doc_0/Pages/Page_N/Content.xml."""
    ns = 'xmlns:ofd="http://www.ofdspec.org/2016"'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OFD.xml", f'<?xml version="1.0" encoding="UTF-8"?><ofd:OFD {ns} Version="1.0">'
                              '<ofd:DocBody><ofd:DocInfo><ofd:DocID>x</ofd:DocID></ofd:DocInfo>'
                              '<ofd:DocRoot>Doc_0/Document.xml</ofd:DocRoot></ofd:DocBody></ofd:OFD>')
        page_refs = "".join(f'<ofd:Page ID="{i + 1}" BaseLoc="Pages/Page_{i}/Content.xml"/>'
                            for i in range(len(pages)))
        z.writestr("Doc_0/Document.xml", f'<?xml version="1.0" encoding="UTF-8"?><ofd:Document {ns}>'
                                         f'<ofd:CommonData><ofd:MaxUnitID>99</ofd:MaxUnitID></ofd:CommonData>'
                                         f'<ofd:Pages>{page_refs}</ofd:Pages></ofd:Document>')
        for i, lines in enumerate(pages):
            objects = "".join(
                f'<ofd:TextObject ID="{10 + j}" Boundary="20 {30 + 10 * j} 170 8" Font="1" Size="5">'
                f'<ofd:TextCode X="0" Y="5">{line}</ofd:TextCode></ofd:TextObject>'
                for j, line in enumerate(lines))
            z.writestr(f"Doc_0/Pages/Page_{i}/Content.xml",
                       f'<?xml version="1.0" encoding="UTF-8"?><ofd:Page {ns}><ofd:Content>'
                       f'<ofd:Layer ID="2">{objects}</ofd:Layer></ofd:Content></ofd:Page>')
    return out.getvalue()


def rtf(paragraphs: list[str]) -> bytes:
    """RTF as Chinese Word writes it: GBK bytes as \\'hh escapes under \\ansicpg936."""
    body = "".join("".join(f"\\'{b:02x}" if b > 127 else chr(b) for b in p.encode("gbk")) + "\\par\n"
                   for p in paragraphs)
    return ("{\\rtf1\\ansi\\ansicpg936\\deff0{\\fonttbl{\\f0\\fnil\\fcharset134 SimSun;}}\n\\f0 "
            + body + "}").encode("ascii")


def docx_bomb(unpacked: int = 300 * 1024 * 1024) -> bytes:
    """A DOCX whose document.xml inflates to ``unpacked`` bytes from well under a megabyte."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        with z.open("word/document.xml", "w", force_zip64=True) as member:
            chunk = b" " * (1024 * 1024)
            for _ in range(unpacked // len(chunk)):
                member.write(chunk)
    return out.getvalue()


def empty_pdf(pages: int) -> bytes:
    """A PDF of ``pages`` empty pages (10,000 take about a second and 1.3 MB)."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument.new()
    for _ in range(pages):
        pdf.new_page(595, 842)
    out = io.BytesIO()
    pdf.save(out)
    return out.getvalue()
