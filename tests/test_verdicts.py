"""Verdicts from structure, never from words (crawler/verdicts.py, issue 10 items 5 and 6)."""

from __future__ import annotations

import pytest

from crawler.verdicts import SharedPages, judge_page, judge_redirect, judge_status, page_key

URL = "http://www.example.gov.cn/col/202403/t20240306_1.html"


def _page(title: str, body: str, head: str = "") -> bytes:
    return f"<html><head><title>{title}</title>{head}</head><body>{body}</body></html>".encode()


@pytest.mark.parametrize("title", ["关于启用政务服务平台安全验证功能的通知", "某某县云锁采购项目中标公告",
                                   "网站防火墙设备采购结果公示", "404名困难群众获得临时救助", "页面不存在", "Access Denied"])
def test_a_short_notice_is_a_page_whatever_its_words(title: str) -> None:
    page = _page(title, f"<h1>{title}</h1><p>特此公告。</p><script>var _hmt=[];</script>", "<script src=/s.js></script>")
    assert judge_page(page, URL, "text/html") is None


def test_a_list_page_with_such_titles_is_a_page() -> None:
    items = "".join(f"<li><a href='/a{i}.html'>{t}</a></li>" for i, t in enumerate(
        ["网站防火墙设备采购结果公示", "关于启用政务服务平台安全验证功能的通知", "404名困难群众获得临时救助"]))
    assert judge_page(_page("通知公告", f"<ul>{items}</ul>"), URL, "text/html; charset=utf-8") is None


@pytest.mark.parametrize("page", [
    _page("", "", "<script>$_ts=window['$_ts'];</script><script src=/x.js></script>"),
    _page("提示", "<noscript>请开启JavaScript</noscript><script src=/check.js></script>"),
    _page("", "", "<meta http-equiv=refresh content=0>"),
    _page("", "Loading<script>document.cookie='a=1';location.reload()</script>"),
])
def test_scripts_without_content_are_a_challenge(page: bytes) -> None:
    verdict = judge_page(page, URL, "text/html")
    assert verdict is not None and verdict.kind == "blocked"


def test_a_page_a_script_is_to_fill_is_no_challenge() -> None:
    page = _page("公示公告", "<img src=/logo.png><div id=app><ul id=list></ul></div><script src=/list.js></script>")
    assert judge_page(page, URL, "text/html") is None


def test_challenge_code_on_a_page_with_content_is_a_page() -> None:
    body = "<p>" + "本办法自发布之日起施行。" * 20 + "</p><script>$_ts=window['$_ts'];</script>"
    assert judge_page(_page("通知", body), URL, "text/html") is None


def test_undecodable_bytes_and_what_is_not_html() -> None:
    junk = b"<html><body>" + bytes(range(256)) * 8 + b"</body></html>"
    verdict = judge_page(junk, URL, "text/html")
    assert verdict is not None and verdict.kind == "unusable" and "undecodable" in verdict.reason
    assert judge_page(junk, URL, "application/pdf") is None
    assert judge_page("正文。".encode("gbk") * 50 + b"\xff\xfe", URL, "text/html; charset=gbk") is None


def test_statuses_and_redirects() -> None:
    assert judge_status(404).kind == "gone" and judge_status(412).kind == "blocked"  # type: ignore[union-attr]
    assert judge_status(200) is None
    assert judge_redirect(URL, "https://www.example.gov.cn/").kind == "unusable"  # type: ignore[union-attr]
    assert judge_redirect(URL, "http://www.example.gov.cn/col/new.html") is None
    assert judge_redirect("http://www.example.gov.cn/", "https://www.example.gov.cn/") is None


def test_a_page_many_documents_share_is_a_template() -> None:
    shared = SharedPages()
    says = "系统维护中\n网站正在进行系统升级维护，请稍后访问。"
    assert shared.judge(URL + "?1", URL + "?1", page_key(says)) is None
    assert shared.judge(URL + "?2", URL + "?2", page_key(" 系统维护中\n网站正在进行系统升级维护， 请稍后访问。")) is None
    verdict = shared.judge(URL + "?3", URL + "?3", page_key(says))
    assert verdict is not None and "2 other documents" in verdict.reason
    assert shared.judge(URL + "?4", URL + "?4", page_key("另一份通知\n正文")) is None


def test_a_page_like_the_one_for_unknown_urls_is_a_template_from_the_first() -> None:
    shared = SharedPages()
    shared.unknown("http://www.example.gov.cn/govarchive-probe-1.html", "http://www.example.gov.cn/404.html",
                   page_key("页面不存在\n您访问的页面不存在"))
    verdict = shared.judge(URL, URL, page_key("页面不存在\n您访问的页面不存在"))
    assert verdict is not None and "unknown URLs" in verdict.reason
    assert shared.judge(URL + "?x", "http://www.example.gov.cn/404.html", page_key("其他")) is not None
    assert shared.judge(URL + "?y", URL + "?y", page_key("404名困难群众获得临时救助\n正文")) is None


def test_redirects_many_documents_share() -> None:
    shared = SharedPages()
    target = "http://www.example.gov.cn/notice.html"
    verdicts = [shared.judge(f"{URL}?{i}", target, page_key(f"text {i}")) for i in range(3)]
    assert verdicts[:2] == [None, None] and verdicts[2] is not None and "redirected to" in verdicts[2].reason
