"""End to end: the sample site served on 127.0.0.1 → `govarchive crawl` → a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import sqlite_utils
from click.testing import CliRunner

from crawler.cli import cli
from crawler.config import Settings
from crawler.crawl import revisit_interval

TRS_REPORT = "zwgk/tzgg/202403/t20240306_451851.html"
TRS_ATTACHMENTS = "zwgk/tzgg/202403/t20240301_451814.html"
TRS_TABLE = "zwgk/tzgg/202402/t20240220_451740.html"
TRS_LAST_PAGE = "zwgk/tzgg/202303/t20230315_451444.html"  # listed on index_2.html only
SHTML_GBK = "xxgk/c123697/202501/8ead8621482e31829ec4a7d6740e4013.shtml"
SHTML_REPORT = "xxgk/c123697/202505/0b31209a28172912c3e987f06d3bf33c.shtml"
NOISE = ["打印", "关闭", "扫一扫", "收藏", "浏览次数", "点击数", "来源：", "发布时间", "当前位置",
         "您当前的位置", "相关链接", "关联稿件", "相关附件", "网站标识码", "版权所有", "ICP", "主办"]


def crawl(config_path: Path, db_path: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["crawl", "--config", str(config_path), "--db", str(db_path), *args],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.stdout


def document(db: sqlite_utils.Database, base_url: str, path: str) -> dict:
    rows = list(db["documents"].rows_where("url = ?", [f"{base_url}/{path}"]))
    assert len(rows) == 1, f"{path} archived {len(rows)} times"
    return rows[0]


def edit(site: Path, path: str, old: str, new: str) -> None:
    page = site / path
    text = page.read_text(encoding="utf-8")
    assert old in text
    page.write_text(text.replace(old, new), encoding="utf-8")


def test_first_crawl_archives_every_document_once_and_clean(config_path, db_path, base_url):
    output = crawl(config_path, db_path)
    assert output.strip().startswith("2 sources: 18 new, 0 changed, 0 unchanged, 0 removed, 0 failed")
    db = sqlite_utils.Database(db_path)
    docs = list(db["documents"].rows)
    assert len(docs) == 18 == len({d["url"] for d in docs}) == db["versions"].count
    for d in docs:
        assert d["title"] and d["published"] and d["body"] and d["online"] == 1, d["url"]
        leaked = [n for n in NOISE if n in d["body"]]
        assert not leaked, f"{d['url']} keeps {leaked}"
    report = document(db, base_url, TRS_REPORT)
    assert (report["title"], report["published"]) == ("示范县2023年法治政府建设工作报告", "2024-03-06")
    assert report["body"].startswith("坚持以习近平新时代中国特色社会主义思想为指导")
    assert report["body"].endswith("示范县人民政府\n2024年3月6日")
    document(db, base_url, TRS_LAST_PAGE)  # reached through createPageHTML pagination


def test_fields_tables_attachments_and_gbk_come_through(config_path, db_path, base_url):
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    shtml = document(db, base_url, SHTML_REPORT)
    fields = json.loads(shtml["fields"])
    assert fields["文号"] == "示司发〔2025〕3号" and fields["发布机构"] == "示范市司法局"
    assert fields["索引号"].startswith("11650000MB0100/2025")
    assert shtml["body"].endswith("示范市司法局\n2025年5月7日")
    gbk = document(db, base_url, SHTML_GBK)
    assert "县长王国镕主持" in gbk["body"]  # 镕 is outside GB2312: decoded as GB18030
    table = document(db, base_url, TRS_TABLE)
    assert re.search(r"1\s+重大行政决策目录编制\s+县司法局", table["body"])
    doc_id = document(db, base_url, TRS_ATTACHMENTS)["id"]
    attachments = {r["url"]: r["text"] for r in db["attachments"].rows_where("document_id = ?", [doc_id])}
    assert attachments == {
        f"{base_url}/zwgk/tzgg/202403/P0202403013912.pdf": "1.行政执法案卷评查标准.pdf",
        f"{base_url}/zwgk/tzgg/202403/P0202403013913.docx": "2.评查工作安排表.docx",
    }


def test_second_crawl_of_an_unchanged_site_adds_nothing_and_stops_paging(config_path, db_path):
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    first = db["fetches"].count
    output = crawl(config_path, db_path)
    assert output.startswith("2 sources: 0 new, 0 changed, 0 unchanged")
    requests = db["fetches"].count - first
    assert requests <= 4, "only the first list page of each column (and robots.txt) is fetched"
    assert db["versions"].count == 18
    output = crawl(config_path, db_path, "--full")
    assert output.startswith("2 sources: 0 new, 0 changed, 18 unchanged")
    assert db["versions"].count == 18


def test_editing_one_page_adds_exactly_one_version(config_path, db_path, base_url, site):
    crawl(config_path, db_path)
    edit(site, TRS_REPORT, "深入学习贯彻习近平法治思想", "深入学习贯彻习近平法治思想和述职评议制度")
    output = crawl(config_path, db_path, "--full")
    assert output.startswith("2 sources: 0 new, 1 changed, 17 unchanged")
    db = sqlite_utils.Database(db_path)
    report = document(db, base_url, TRS_REPORT)
    assert report["versions"] == 2 and "述职评议" in report["body"]
    bodies = [v["body"] for v in db["versions"].rows_where("document_id = ?", [report["id"]],
                                                           order_by="version")]
    assert "述职评议" not in bodies[0] and "述职评议" in bodies[1]
    assert db["versions"].count == 19


@pytest.mark.parametrize("path, old, new", [
    (TRS_REPORT, '<span id="hits">100</span>', '<span id="hits">4711</span>'),      # visit counter
    (SHTML_REPORT, "点击数：<span>50</span>", "点击数：<span>977</span>"),          # 点击数
    (TRS_REPORT, 'var _hmt = "', 'var _hmt = "ffff'),                                # script token
])
def test_a_page_differing_only_in_noise_adds_no_version(config_path, db_path, site, path, old, new):
    crawl(config_path, db_path)
    edit(site, path, old, new)
    output = crawl(config_path, db_path, "--full")
    assert output.startswith("2 sources: 0 new, 0 changed, 18 unchanged")


def test_a_new_document_on_the_first_list_page_is_found(config_path, db_path, base_url, site):
    crawl(config_path, db_path)
    (site / "zwgk/tzgg/202403/t20240310_451900.html").write_text(
        (site / TRS_REPORT).read_text(encoding="utf-8").replace("示范县2023年法治政府建设工作报告",
                                                                "示范县2024年法治政府建设工作报告"),
        encoding="utf-8")
    edit(site, "zwgk/tzgg/index.html", '<ul class="list">',
         '<ul class="list">\n<li><a href="./202403/t20240310_451900.html">示范县2024年法治政府建设工作报告'
         '</a><span>2024-03-10</span></li>')
    output = crawl(config_path, db_path)
    assert output.startswith("2 sources: 1 new, 0 changed")
    db = sqlite_utils.Database(db_path)
    assert document(db, base_url, "zwgk/tzgg/202403/t20240310_451900.html")["title"] == \
        "示范县2024年法治政府建设工作报告"


def test_a_deleted_page_is_marked_removed_and_keeps_its_versions(config_path, db_path, base_url, site):
    crawl(config_path, db_path)
    (site / TRS_REPORT).unlink()
    output = crawl(config_path, db_path, "--full")
    assert "1 removed" in output
    db = sqlite_utils.Database(db_path)
    report = document(db, base_url, TRS_REPORT)
    assert report["online"] == 0 and "404" in report["removed_reason"]
    assert db["versions"].count_where("document_id = ?", [report["id"]]) == 1
    assert report["body"]  # the archived text is still there


def test_a_list_page_without_links_flags_the_run_and_removes_nothing(config_path, db_path, site):
    crawl(config_path, db_path)
    (site / "zwgk/tzgg/index.html").write_text("<html><body><p>网站改版中</p></body></html>",
                                               encoding="utf-8")
    output = crawl(config_path, db_path)
    assert "1 source flagged" in output
    db = sqlite_utils.Database(db_path)
    last = next(db["runs"].rows_where("source = 'demo-tzgg'", order_by="id desc", limit=1))
    assert "0 links found" in last["error"]
    assert db["documents"].count_where("online = 0") == 0


def test_every_request_is_a_fetches_row_and_every_run_is_finished(config_path, db_path):
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    assert db["fetches"].count >= 18 + 5  # documents + list pages
    assert db["fetches"].count_where("outcome = 'ok' and status = 200") >= 23
    assert all(r["finished"] for r in db["runs"].rows)
    assert db.execute("pragma integrity_check").fetchone()[0] == "ok"


def test_reextract_rereads_captures_without_fetching_and_adds_no_versions(config_path, db_path, site,
                                                                          base_url):
    crawl(config_path, db_path)
    edit(site, TRS_REPORT, "深入学习贯彻习近平法治思想", "深入学习贯彻习近平法治思想和述职评议制度")
    crawl(config_path, db_path, "--full")
    db = sqlite_utils.Database(db_path)
    fetches = db["fetches"].count
    # Simulate an archive written by a worse extractor: boilerplate left in every stored version.
    db.execute("update versions set body = body || '\n【打印本页】【关闭窗口】', fingerprint = 'old'")
    db.execute("update documents set body = body || '\n【打印本页】【关闭窗口】', fingerprint = 'old'")
    result = CliRunner().invoke(cli, ["reextract", "--config", str(config_path), "--db", str(db_path)],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("18 documents re-extracted: 18 read differently now; 19 versions became 19")
    assert db["fetches"].count == fetches  # nothing was fetched
    assert db["versions"].count_where("body like '%打印本页%'") == 0
    assert document(db, base_url, TRS_REPORT)["versions"] == 2
    # Once re-extracted, a crawl of the unchanged site sees no change at all.
    assert crawl(config_path, db_path, "--full").startswith("2 sources: 0 new, 0 changed, 18 unchanged")


def test_reextract_merges_versions_that_only_an_old_extractor_told_apart(config_path, db_path, site,
                                                                         base_url):
    crawl(config_path, db_path)
    edit(site, TRS_REPORT, '<span id="hits">100</span>', '<span id="hits">101</span>')
    crawl(config_path, db_path, "--full")
    db = sqlite_utils.Database(db_path)
    report = document(db, base_url, TRS_REPORT)
    # As if an old extractor had kept the counter: a second, fake version with its own capture.
    capture = db["captures"].insert({**next(db["captures"].rows_where("document_id = ?", [report["id"]])),
                                     "id": None}).last_pk
    db["versions"].insert({**next(db["versions"].rows_where("document_id = ?", [report["id"]])),
                           "id": None, "version": 2, "fingerprint": "fake", "capture_id": capture})
    db["documents"].update(report["id"], {"versions": 2})
    result = CliRunner().invoke(cli, ["reextract", "--config", str(config_path), "--db", str(db_path),
                                      "--source", "demo-tzgg"], catch_exceptions=False)
    assert "13 versions became 12" in result.stdout
    assert document(db, base_url, TRS_REPORT)["versions"] == 1


def test_per_source_selectors_and_patterns_reach_discovery_and_extraction(config_path, db_path, base_url):
    text = config_path.read_text(encoding="utf-8").replace(
        'urls = ["' + base_url + '/zwgk/tzgg/index.html"]',
        'urls = ["' + base_url + '/zwgk/tzgg/index.html"]\nlink_pattern = "/t2024"\n'
        'body_selector = "div.TRS_Editor > p:first-child"')
    config_path.write_text(text, encoding="utf-8")
    output = crawl(config_path, db_path, "--source", "demo-tzgg")
    db = sqlite_utils.Database(db_path)
    urls = [d["url"] for d in db["documents"].rows]
    assert urls and all("/t2024" in u for u in urls) and len(urls) == 8
    assert output.startswith("1 source: 8 new")
    report = document(db, base_url, TRS_REPORT)
    assert "\n" not in report["body"] and report["body"].startswith("坚持以习近平新时代")


def test_after_an_interrupted_run_the_whole_column_is_walked_again(config_path, db_path, base_url):
    # As if a crawl had been killed after archiving list page 1 of the TRS column only.
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    older = [d["id"] for d in db["documents"].rows_where("published < '2024-01-20'")]
    for table in ("events", "attachments", "versions", "captures"):
        db.execute(f"delete from {table} where document_id in ({','.join(map(str, older))})")
    db.execute(f"delete from documents where id in ({','.join(map(str, older))})")
    db.execute("update runs set finished = null, error = null")
    output = crawl(config_path, db_path)
    assert output.startswith(f"2 sources: {len(older)} new")
    assert db["documents"].count == 18


def test_a_clean_previous_run_lets_paging_stop_at_archived_documents(config_path, db_path):
    crawl(config_path, db_path)
    db = sqlite_utils.Database(db_path)
    before = db["fetches"].count
    crawl(config_path, db_path)
    list_pages = [r["url"] for r in db["fetches"].rows_where("id > ?", [before]) if "index" in r["url"]]
    assert len(list_pages) == 2  # the first page of each column


def test_a_document_that_disappears_from_its_column_is_marked_unlisted(config_path, db_path, base_url, site):
    crawl(config_path, db_path)
    listed = f'<li><a href="./{TRS_REPORT.split("tzgg/")[1]}"'
    page = (site / "zwgk/tzgg/index.html").read_text(encoding="utf-8")
    line = next(x for x in page.splitlines() if x.startswith(listed))
    edit(site, "zwgk/tzgg/index.html", line + "\n", "")
    crawl(config_path, db_path, "--full")
    db = sqlite_utils.Database(db_path)
    report = document(db, base_url, TRS_REPORT)
    assert report["unlisted"] and report["online"] == 1  # gone from the list, the page still answers
    events = [e["event"] for e in db["events"].rows_where("document_id = ?", [report["id"]], order_by="id")]
    assert events == ["new", "unlisted"]
    assert db["documents"].count_where("unlisted is not null") == 1
    edit(site, "zwgk/tzgg/index.html", '<ul class="list">\n', '<ul class="list">\n' + line + "\n")
    crawl(config_path, db_path, "--full")
    assert document(db, base_url, TRS_REPORT)["unlisted"] is None
    assert db["events"].count_where("event = 'relisted'") == 1


def test_a_partial_walk_marks_nothing_unlisted(config_path, db_path, site):
    crawl(config_path, db_path)
    (site / "zwgk/tzgg/index_1.html").unlink()  # the column can no longer be walked to its end
    crawl(config_path, db_path, "--full")
    assert sqlite_utils.Database(db_path)["documents"].count_where("unlisted is not null") == 0


def test_revisit_intervals_grow_with_age_within_bounds_and_spread_across_urls():
    settings = Settings()
    today = dt.date(2026, 11, 22)
    days = [revisit_interval(settings, f"http://x.gov.cn/t{i}.html", today - dt.timedelta(days=400), today)
            / dt.timedelta(days=1) for i in range(200)]
    assert all(24 <= d <= 30 for d in days) and len({round(d, 2) for d in days}) > 50
    fresh = revisit_interval(settings, "http://x.gov.cn/a.html", today, today) / dt.timedelta(days=1)
    assert 0.8 <= fresh <= 1.0
    week = revisit_interval(settings, "http://x.gov.cn/a.html", today - dt.timedelta(days=7), today)
    assert week == revisit_interval(settings, "http://x.gov.cn/a.html", today - dt.timedelta(days=7), today)
    assert 1.4 <= week / dt.timedelta(days=1) <= 1.75
