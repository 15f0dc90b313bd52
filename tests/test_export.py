"""Export to WARC/WACZ, import of WARCs, and fixity: the sample site crawled for real, then exported.

The exports are checked by the tools archivists use (`warcio check`, `wacz validate`), run as
commands; no network is needed.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pty
import subprocess
import sys
import tracemalloc
import zipfile
import zlib
from io import BytesIO
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner
from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from crawler.cli import cli
from crawler.export import export_warc
from crawler.store import Archive

BIN = Path(sys.executable).parent


def run(*args: str, code: int = 0) -> str:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture
def crawled(config_path: Path, db_path: Path) -> Path:
    """The sample site crawled twice: the second pass gets 304s from the server (revisits)."""
    run("crawl", "--config", str(config_path), "--db", str(db_path))
    run("crawl", "--config", str(config_path), "--db", str(db_path), "--full")
    return db_path


def records(path: Path) -> list[tuple[dict[str, str], StatusAndHeaders | None, bytes]]:
    with path.open("rb") as f:
        return [(dict(r.rec_headers.headers), r.http_headers, r.content_stream().read())
                for r in ArchiveIterator(f)]


def sha256_b32(data: bytes) -> str:
    return "sha256:" + base64.b32encode(hashlib.sha256(data).digest()).decode()


def test_warc_passes_warcio_check_and_every_capture_has_a_response(crawled, tmp_path):
    out = tmp_path / "out.warc.gz"
    run("export", "--db", str(crawled), "--format", "warc", str(out))
    check = subprocess.run([BIN / "warcio", "check", "-v", str(out)], check=False, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "digest pass" in check.stdout and "fail" not in check.stdout

    recs = records(out)
    assert recs[0][0]["WARC-Type"] == "warcinfo" and recs[0][0]["WARC-Filename"] == "out.warc.gz"
    assert all(h.get("WARC-Type") != "request" for h, _, _ in recs)
    responses = {h["WARC-Target-URI"]: (h, http, body) for h, http, body in recs if h["WARC-Type"] == "response"}
    db = sqlite_utils.Database(crawled)
    for capture in db.query("select c.*, d.url as doc from captures c join documents d on d.id = c.document_id"):
        h, http, body = responses[capture["final_url"]]
        content = zlib.decompress(capture["content"])
        assert body == content
        assert h["WARC-Payload-Digest"] == sha256_b32(content) == \
            "sha256:" + base64.b32encode(bytes.fromhex(capture["sha256"])).decode()
        assert h["WARC-Date"] == capture["fetched"].replace("+00:00", "Z")
        assert http.protocol == "HTTP/1.1" and http.statusline == "200 OK"
        assert http.get_header("Content-Length") == str(len(content))
        assert http.get_header("content-type") == json.loads(capture["headers"])["content-type"]
    assert db["documents"].count == db["captures"].count == 18


def test_revisits_for_304s_and_attachments_as_responses(crawled, tmp_path):
    out = tmp_path / "out.warc.gz"
    export_warc(Archive(crawled), out)
    recs = records(out)
    by_id = {h["WARC-Record-ID"]: h for h, _, _ in recs}
    revisits = [h for h, _, _ in recs if h["WARC-Type"] == "revisit"]
    db = sqlite_utils.Database(crawled)
    assert len(revisits) == db["fetches"].count_where("outcome = 'not_modified'") == 18
    for h in revisits:
        assert h["WARC-Profile"] == "http://netpreserve.org/warc/1.1/revisit/identical-payload-digest"
        original = by_id[h["WARC-Refers-To"]]
        assert original["WARC-Type"] == "response"
        assert (h["WARC-Refers-To-Target-URI"], h["WARC-Refers-To-Date"], h["WARC-Payload-Digest"]) == (
            original["WARC-Target-URI"], original["WARC-Date"], original["WARC-Payload-Digest"])
    files = {row["url"]: row for row in db.query(
        "select a.url, a.fetched, f.content, f.content_type from attachments a join files f using (sha256)")}
    assert len(files) == 2
    for h, http, body in recs:
        if h.get("WARC-Target-URI") in files:
            row = files.pop(h["WARC-Target-URI"])
            assert body == row["content"] and http.get_header("Content-Type") == row["content_type"]
            assert h["WARC-Date"] == row["fetched"].replace("+00:00", "Z")
    assert not files


def test_a_304_after_an_unarchived_200_makes_no_revisit(crawled, tmp_path):
    # The validators sent were those of a 200 whose bytes were not kept: the payload is unknown.
    db = sqlite_utils.Database(crawled)
    first = next(db.query("select document_id, started from fetches where outcome = 'not_modified' order by id"))
    # (dated later than any capture: timestamps are to the second, and this test runs within one)
    db.execute("insert into fetches (document_id, url, started, status, outcome) values (?, 'x', ?, 200, 'ok')",
               [first["document_id"], "2999-01-01T00:00:00+00:00"])
    db.execute("update fetches set id = (select max(id) + 1 from fetches) where document_id = ? and"
               " outcome = 'not_modified'", [first["document_id"]])
    db.conn.commit()
    out = tmp_path / "out.warc.gz"
    report = export_warc(Archive(crawled), out)
    assert report.revisits == 17


def test_source_and_since_select_what_is_exported(crawled, tmp_path):
    out = tmp_path / "one.warc.gz"
    output = run("export", "--db", str(crawled), "--format", "warc", "--source", "demo-tzgg", str(out))
    db = sqlite_utils.Database(crawled)
    tzgg = db["documents"].count_where("source = 'demo-tzgg'")
    assert output.startswith(f"{out}: {tzgg} captures, {tzgg} revisits, 2 files")
    urls = {h["WARC-Target-URI"] for h, _, _ in records(out) if h["WARC-Type"] == "response"}
    assert all("/zwgk/" in u for u in urls)
    later = tmp_path / "later.warc.gz"
    output = run("export", "--db", str(crawled), "--format", "warc", "--since", "2999-01-01", str(later))
    assert output.startswith(f"{later}: 0 captures, 0 revisits, 0 files")
    run("export", "--db", str(crawled), "--format", "warc", "--source", "nope", str(later), code=1)
    run("export", "--db", str(tmp_path / "missing.db"), "--format", "warc", str(later), code=1)
    assert not (tmp_path / "missing.db").exists()


def test_wacz_passes_wacz_validate_with_a_page_per_document(crawled, tmp_path):
    out = tmp_path / "out.wacz"
    output = run("export", "--db", str(crawled), "--format", "wacz", str(out))
    assert "18 pages" in output
    check = subprocess.run([BIN / "wacz", "validate", "-f", str(out)], check=False, capture_output=True, text=True)
    assert check.returncode == 0 and "the passed WACZ is valid" in check.stdout, check.stdout + check.stderr
    with zipfile.ZipFile(out) as z:
        assert z.getinfo("archive/data.warc.gz").compress_type == zipfile.ZIP_STORED
        lines = z.read("pages/pages.jsonl").decode().splitlines()
        package = json.loads(z.read("datapackage.json"))
        index = gzip.decompress(z.read("indexes/index.cdx.gz")).decode().splitlines()
        for resource in package["resources"]:
            assert resource["hash"] == "sha256:" + hashlib.sha256(z.read(resource["path"])).hexdigest()
    assert json.loads(lines[0])["format"] == "json-pages-1.0"
    pages = [json.loads(line) for line in lines[1:]]
    db = sqlite_utils.Database(crawled)
    docs = {d["url"]: d for d in db["documents"].rows}
    assert len(pages) == len(docs) == 18
    indexed = {json.loads(line.split(" ", 2)[2])["url"] for line in index}
    for page in pages:
        doc = docs[page["url"]]
        assert (page["title"], page["published"]) == (doc["title"], doc["published"])
        assert page["ts"].endswith("Z") and page["url"] in indexed
    assert index == sorted(index)


def test_import_of_the_export_gives_the_same_documents(crawled, config_path, tmp_path):
    out = tmp_path / "out.warc.gz"
    run("export", "--db", str(crawled), "--format", "warc", str(out))
    fresh = tmp_path / "fresh.db"
    output = run("import", "--config", str(config_path), "--db", str(fresh), "--format", "warc", str(out))
    assert output.startswith("18 new, 0 changed, 0 unchanged; 2 records skipped (2 not HTML)")
    columns = "url, source, title, published, body, publisher, fields, fingerprint"
    query = f"select {columns} from documents order by url"
    assert list(sqlite_utils.Database(fresh).query(query)) == list(sqlite_utils.Database(crawled).query(query))
    files = "select url, sha256 from attachments order by url"
    assert list(sqlite_utils.Database(fresh).query(files)) == list(sqlite_utils.Database(crawled).query(files))
    # Importing again changes nothing: the same path as a crawl keeps versions for real changes only.
    output = run("import", "--config", str(config_path), "--db", str(fresh), str(out))
    assert output.startswith("0 new, 0 changed, 18 unchanged")


def write_warc(path: Path, pages: list[tuple[str, int, str, bytes]], *, compress: bool = True) -> None:
    """A WARC as other crawlers write them: request and response records, bodies as sent (gzip
    content encoding; chunked in an uncompressed WARC, as wget and Heritrix keep them)."""
    with path.open("wb") as f:
        writer = WARCWriter(f, gzip=compress)
        for url, status, ctype, body in pages:
            headers = [("Content-Type", ctype), ("Content-Encoding", "gzip")]
            payload = gzip.compress(body)
            if compress:
                headers.append(("Content-Length", str(len(payload))))
            else:
                headers.append(("Transfer-Encoding", "chunked"))
                half = len(payload) // 2
                payload = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in (payload[:half], payload[half:]))
                payload += b"0\r\n\r\n"
            http = StatusAndHeaders(f"{status} X", headers, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "request", payload=BytesIO(b"GET / HTTP/1.0\r\n\r\n")))
            writer.write_record(writer.create_warc_record(url, "response", payload=BytesIO(payload),
                                                          length=len(payload), http_headers=http))


def test_import_matches_sources_by_host_and_skips_list_pages_and_strangers(site, base_url, config_path,
                                                                         tmp_path):
    report = site / "zwgk/tzgg/202403/t20240306_451851.html"
    warc = tmp_path / "wget.warc.gz"
    write_warc(warc, [
        (f"{base_url}/zwgk/tzgg/index.html", 200, "text/html", (site / "zwgk/tzgg/index.html").read_bytes()),
        (f"{base_url}/zwgk/tzgg/index_1.html", 200, "text/html", (site / "zwgk/tzgg/index_1.html").read_bytes()),
        (f"{base_url}/zwgk/tzgg/202403/t20240306_451851.html", 200, "text/html; charset=utf-8",
         report.read_bytes()),
        (f"{base_url}/missing.html", 404, "text/html", b"<html>gone</html>"),
        ("http://elsewhere.example/a.html", 200, "text/html", report.read_bytes()),
        (f"{base_url}/style.css", 200, "text/css", b"body {}"),
    ])
    db = tmp_path / "fresh.db"
    output = run("import", "--config", str(config_path), "--db", str(db), str(warc))
    assert output.startswith("1 new, 0 changed, 0 unchanged; 5 records skipped")
    assert "2 list page" in output and "1 HTTP 404" in output and "1 no configured source" in output
    assert "1 not HTML" in output
    (doc,) = sqlite_utils.Database(db)["documents"].rows
    assert (doc["source"], doc["title"]) == ("demo-tzgg", "示范县2023年法治政府建设工作报告")
    assert doc["body"].startswith("坚持以习近平新时代中国特色社会主义思想为指导")
    # An uncompressed WARC with a chunked, gzipped body reads the same.
    plain = tmp_path / "heritrix.warc"
    write_warc(plain, [(f"{base_url}/zwgk/tzgg/202403/t20240306_451851.html", 200, "text/html", report.read_bytes())],
               compress=False)
    other = tmp_path / "other.db"
    assert run("import", "--config", str(config_path), "--db", str(other), str(plain)).startswith("1 new")
    assert next(sqlite_utils.Database(other).query("select body from documents"))["body"] == doc["body"]
    # Named, the source takes every page, whatever its host.
    output = run("import", "--config", str(config_path), "--db", str(db), "--source", "demo-xxgk", str(warc))
    assert output.startswith("1 new")
    run("import", "--config", str(config_path), "--db", str(db), "--source", "nope", str(warc), code=2)


def test_import_of_a_file_that_is_not_a_warc_fails_with_one_line(config_path, tmp_path):
    bad = tmp_path / "notes.warc"
    bad.write_text("hello\n")
    result = CliRunner().invoke(cli, ["import", "--config", str(config_path), "--db", str(tmp_path / "a.db"),
                                      str(bad)])
    assert result.exit_code == 1 and str(bad) in result.output and "Traceback" not in result.output


def test_verify_detects_a_corrupted_capture_and_file(crawled):
    assert run("verify", "--db", str(crawled)).endswith("18 captures and 2 files checked: 0 mismatches\n")
    db = sqlite_utils.Database(crawled)
    content = zlib.decompress(db["captures"].get(3)["content"]).replace(b"<", b"[", 1)
    db["captures"].update(3, {"content": zlib.compress(content)})
    sha = next(db.query("select sha256 from files"))["sha256"]
    db.execute("update files set content = ? where sha256 = ?", [b"tampered", sha])
    db.conn.commit()
    output = run("verify", "--db", str(crawled), code=1)
    assert "mismatch: captures 3 (" in output and f"mismatch: files {sha}" in output
    assert output.endswith("2 mismatches\n")
    out = crawled.parent / "out.warc.gz"
    # An export still writes what is there, and says which captures no longer match.
    assert "capture 3" in run("export", "--db", str(crawled), "--format", "warc", str(out), code=1)


def test_export_memory_stays_flat_as_captures_grow(tmp_path):
    """Streaming: 8× the captures take no more memory (the cursor and writer hold one at a time)."""
    peaks = []
    for n in (100, 800):
        path = tmp_path / f"{n}.db"
        with Archive(path) as archive:
            db = archive.db
            db.execute("insert into sources (name) values ('s')")
            noise = b"".join(hashlib.sha256(b"%d" % i).hexdigest().encode() for i in range(60))
            body = b"<html><body>" + noise + b"</body></html>"  # compresses about 2×, as pages do
            with db.conn:
                for i in range(n):
                    page = body.replace(b"x", str(i).encode(), 1)
                    doc = db.execute("insert into documents (url, source) values (?, 's')",
                                     [f"http://h/{i}"]).lastrowid
                    db.execute("insert into captures (document_id, fetched, url, final_url, status, headers, size,"
                               " sha256, content) values (?, '2024-01-01T00:00:00+00:00', ?, ?, 200, '{}', ?, ?, ?)",
                               [doc, f"http://h/{i}", f"http://h/{i}", len(page),
                                hashlib.sha256(page).hexdigest(), zlib.compress(page)])
            tracemalloc.start()
            report = export_warc(archive, tmp_path / f"{n}.warc.gz")
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        assert report.responses == n
    assert peaks[1] < peaks[0] * 2, peaks


def test_the_export_bench_runs():
    bench = Path(__file__).resolve().parents[1] / "bench" / "export_bench.py"
    out = subprocess.run([sys.executable, str(bench), "--quick"], check=False, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "export --format wacz" in out.stdout and "memory growth" in out.stdout


def test_progress_shows_on_a_terminal_only(crawled, tmp_path):
    command = [sys.executable, "-m", "crawler", "export", "--db", str(crawled), "--format", "warc",
               str(tmp_path / "out.warc.gz")]
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(command, stderr=follower, stdout=subprocess.PIPE, check=False, timeout=60)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    assert done.returncode == 0 and b"export: 18/18 captures" in shown
    piped = subprocess.run(command, capture_output=True, check=False, timeout=60)
    assert piped.returncode == 0 and piped.stderr == b""


def test_since_still_sees_an_unarchived_200_before_the_day(crawled, tmp_path):
    db = sqlite_utils.Database(crawled)
    first = next(db.query("select document_id from fetches where outcome = 'not_modified' order by id"))
    with db.conn:
        db.execute("update fetches set started = '2999-01-02T00:00:00+00:00' where outcome = 'not_modified'")
        db.execute("insert into fetches (document_id, url, started, status, outcome) values (?, 'x', ?, 200, 'ok')",
                   [first["document_id"], "2999-01-01T00:00:00+00:00"])
        db.execute("update fetches set id = (select max(id) + 1 from fetches) where document_id = ? and"
                   " outcome = 'not_modified'", [first["document_id"]])
    report = export_warc(Archive(crawled), tmp_path / "out.warc.gz", since="2999-01-02")
    assert (report.responses, report.revisits) == (0, 17)
