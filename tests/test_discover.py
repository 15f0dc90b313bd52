"""Discovery on small hand-written list pages of the CMS families government sites use."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawler.discover import Listing, discover

FIXTURES = Path(__file__).parent / "fixtures" / "discover"


def load(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


# --- TRS WCM column: createPageHTML pager, header mega-menu, sidebar, footer, popbox ----------

TRS_URL = "https://www.example.gov.cn/xxgk/zcfb/tz/"
TRS = "https://www.example.gov.cn/xxgk/zcfb/tz/"


def test_trs_column_lists_only_its_documents():
    listing = discover(load("trs_column.html"), TRS_URL)
    assert listing.documents == (
        TRS + "202403/t20240306_1000101.html",
        TRS + "202402/t20240227_1000095.html",
        TRS + "202402/t20240219_1000090.html",  # absolute, #fragment dropped
        TRS + "202401/t20240126_1000080.html",
        TRS + "202401/t20240115_1000071.html",
    )


def test_trs_column_drops_navigation_popbox_offsite_js_and_anchors():
    docs = set(discover(load("trs_column.html"), TRS_URL).documents)
    assert not any("/jd/" in d for d in docs)  # hidden 相关解读 popbox
    assert not any("/xwdt/" in d or "/gg/" in d for d in docs)  # mega-menu and sidebar articles
    assert TRS + "202301/t20230101_999999.html" not in docs  # footer
    assert not any("elsewhere" in d or "#" in d or d.startswith("javascript") for d in docs)


def test_trs_create_page_html_generates_every_page():
    listing = discover(load("trs_column.html"), TRS_URL)
    assert listing.next_pages == tuple(f"{TRS}index_{k}.html" for k in range(1, 5))


def test_trs_last_page_has_no_page_beyond_and_not_itself():
    listing = discover(load("trs_column_index_4.html"), TRS + "index_4.html")
    assert listing.documents == (
        TRS + "202001/t20200110_1000001.html",
        TRS + "201912/t20191220_999990.html",
        TRS + "201912/t20191202_999981.html",
    )
    assert set(listing.next_pages) == {TRS + "index.html"} | {f"{TRS}index_{k}.html" for k in range(1, 4)}


def test_trs_pager_script_with_variables():
    raw = (
        "<ul><li><a href='./202401/t20240101_1.html'>关于春节放假安排的通知公告</a> 2024-01-01</li>"
        "<li><a href='./202401/t20240102_2.html'>关于元宵节放假安排的通知公告</a> 2024-01-02</li></ul>"
        "<script>var countPage = 3; var currentPage = 1;"
        "createPageHTML(countPage, currentPage, 'index', 'shtml');</script>"
    ).encode()
    pages = discover(raw, "https://www.example.gov.cn/zwgk/tzgg/index_1.shtml").next_pages
    assert set(pages) == {
        "https://www.example.gov.cn/zwgk/tzgg/index.shtml",
        "https://www.example.gov.cn/zwgk/tzgg/index_2.shtml",
    }


def test_titles_are_the_link_texts():
    listing = discover(load("trs_column.html"), TRS_URL)
    assert listing.titles[TRS + "202403/t20240306_1000101.html"] == "关于做好2024年春耕化肥保供稳价工作的通知"
    assert set(listing.titles) == set(listing.documents)


# --- 下一页 + numbered pager (EmpireCMS) -------------------------------------------------------


def test_next_link_and_numbered_pager():
    base = "http://www.example.gov.cn/ywdt/bmdt/"
    listing = discover(load("pager_links.html"), base)
    assert listing.documents == (
        base + "2024-03-06/10273.html",
        base + "2024-03-05/10265.html",
        base + "2024-03-04/10243.html",
        base + "2024-03-01/10201.html",
    )
    # 下一页 first; the pages between the numbered links and 尾页 are implied.
    assert listing.next_pages == tuple(f"{base}index_{k}.html" for k in range(2, 6))


# --- .shtml site group ---------------------------------------------------------------------------


def test_shtml_items_and_pager():
    base = "https://www.example.gov.cn/scjg/c123697/"
    listing = discover(load("shtml_column.html"), base + "index.shtml")
    assert listing.documents == (
        base + "202505/7f3a9c1e2b4d4e5f8a6b7c8d9e0f1a2b.shtml",
        base + "202505/0a1b2c3d4e5f60718293a4b5c6d7e8f9.shtml",
        base + "202504/ffeeddccbbaa99887766554433221100.shtml",
    )
    assert listing.next_pages == (base + "index_2.shtml", base + "index_3.shtml")


# --- Hanweb datastore CDATA records + jpage pager ------------------------------------------------


def test_hanweb_datastore_records():
    url = "https://fzggw.example.gov.cn/col/col284/index.html"
    listing = discover(load("hanweb_datastore.html"), url)
    assert listing.documents == (
        "https://fzggw.example.gov.cn/art/2024/3/6/art_284_11830771.html",
        "https://fzggw.example.gov.cn/art/2024/3/1/art_284_11830655.html",
        "http://fzggw.example.gov.cn/art/2024/2/26/art_284_11830502.html",
    )  # not the sidebar 热点信息, not the www.gov.cn record
    assert listing.next_pages == (
        url + "?uid=213870&pageNum=2",
        url + "?uid=213870&pageNum=3",
    )


def test_hanweb_later_page_lists_the_others():
    url = "https://fzggw.example.gov.cn/col/col284/index.html?uid=213870&pageNum=2"
    pages = discover(load("hanweb_datastore.html"), url).next_pages
    assert url not in pages
    assert "https://fzggw.example.gov.cn/col/col284/index.html?uid=213870&pageNum=3" in pages


# --- 信息公开 table --------------------------------------------------------------------------------


def test_xxgk_table_rows():
    url = "https://www.example.gov.cn/xxgk/list.jsp?cat=12"
    listing = discover(load("xxgk_table.html"), url)
    base = "https://www.example.gov.cn/xxgk/fdzdgknr/"
    assert listing.documents == (
        base + "zcwj/202403/b5f1c2d3e4f5a6b7c8d9e0f1a2b3c4d5.shtml",
        base + "zcwj/202402/0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f.shtml",
        base + "tjxx/202401/99aa88bb77cc66dd55ee44ff33001122.shtml",
    )
    assert listing.next_pages == (url + "&page=2", url + "&page=3")


# --- GBK page --------------------------------------------------------------------------------------


def test_gbk_page_decodes_and_lists():
    base = "http://www.example.gov.cn/zwgk/gsgg/"
    listing = discover(load("gbk_list.html"), base)
    assert listing.documents == tuple(f"{base}content_{n}.html" for n in (3371, 3365, 3359))
    assert listing.titles[base + "content_3371.html"] == "示例县2024年度㙟（镕）区域拟提拔干部任前公示"
    assert listing.next_pages == (base + "list_2.html", base + "list_3.html")


def test_http_charset_is_used():
    raw = (
        "<ul><li><a href='/a/202401/t20240101_1.html'>关于春节放假安排的通知公告</a> 2024-01-01</li>"
        "<li><a href='/a/202401/t20240102_2.html'>关于元宵节放假安排的通知公告</a> 2024-01-02</li></ul>"
    )
    listing = discover(raw.encode("gb18030"), "http://x.gov.cn/a/", encoding="gbk")
    assert listing.titles["http://x.gov.cn/a/202401/t20240101_1.html"] == "关于春节放假安排的通知公告"


# --- items inside an HTML comment (Gansu site group) -----------------------------------------------


def test_items_inside_comment_and_commented_pager_script():
    base = "https://jyt.example.gov.cn/jyt/c110634/"
    listing = discover(load("comment_list.html"), base + "zwgklist.shtml")
    assert listing.documents == (
        base + "202511/174240943.shtml",
        base + "202511/174235671.shtml",
        base + "202510/174227399.shtml",
    )
    assert listing.next_pages == (base + "zwgklist_2.shtml", base + "zwgklist_3.shtml")


# --- huilan EasySite: pager anchors without href ----------------------------------------------------


def test_pager_anchors_with_tagname_only():
    base = "https://www.example.gov.cn/zcs/125207/125475/"
    listing = discover(load("easysite_tagname.html"), base + "index.html")
    assert listing.documents == (
        base + "2026022808481138943/index.html",
        base + "2026022708510269460/index.html",
        base + "3555265/index.html",
    )
    assert listing.next_pages == tuple(f"{base}17081-{n}.html" for n in (2, 3, 4))


# --- a list split over several identical boxes -----------------------------------------------------


def test_list_split_over_sibling_boxes_is_joined():
    item = "<li><a href='./2024{0:02d}/t2024{0:02d}01_{0}.html'>关于第{0}批重点项目安排情况的公示公告</a><span>2024-{0:02d}-01</span></li>"
    raw = (
        "<div class='side'><ul><li><a href='../zcjd/'>政策解读</a></li><li><a href='../gzdt/'>工作动态</a></li></ul></div>"
        "<div class='list'>"
        f"<ul class='news'>{item.format(1)}{item.format(2)}</ul><div class='line'></div>"
        f"<ul class='news'>{item.format(3)}{item.format(4)}</ul></div>"
    ).encode()
    docs = discover(raw, "https://www.example.gov.cn/zwgk/gsgg/").documents
    assert docs == tuple(
        f"https://www.example.gov.cn/zwgk/gsgg/2024{n:02d}/t2024{n:02d}01_{n}.html" for n in range(1, 5)
    )


# --- options ------------------------------------------------------------------------------------------


def test_list_selector_pins_the_container():
    listing = discover(load("trs_column.html"), TRS_URL, list_selector="ul.hot")
    assert listing.documents == (
        "https://www.example.gov.cn/xxgk/zcfb/gg/202401/t20240110_1000010.html",
        "https://www.example.gov.cn/xxgk/zcfb/gg/202312/t20231220_1000011.html",
    )


@pytest.mark.parametrize("selector", ["div.no-such-box", "ul[[[", "::"])
def test_list_selector_that_misses_or_is_invalid_is_ignored(selector):
    plain = discover(load("trs_column.html"), TRS_URL)
    assert discover(load("trs_column.html"), TRS_URL, list_selector=selector).documents == plain.documents


def test_link_and_exclude_patterns():
    listing = discover(
        load("trs_column.html"), TRS_URL, link_pattern=r"/2024\d\d/", exclude_pattern=r"_1000095"
    )
    assert listing.documents == (
        TRS + "202403/t20240306_1000101.html",
        TRS + "202402/t20240219_1000090.html",
        TRS + "202401/t20240126_1000080.html",
        TRS + "202401/t20240115_1000071.html",
    )
    assert discover(load("trs_column.html"), TRS_URL, link_pattern="(").documents  # bad regex: ignored


def test_allowed_hosts_admit_another_host():
    listing = discover(
        load("trs_column.html"), TRS_URL, allowed_hosts=["www.example.gov.cn", "www.elsewhere.gov.cn"]
    )
    assert "http://www.elsewhere.gov.cn/xxgk/202402/t20240218_1.html" in listing.documents


# --- garbage -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\x00\xff\xfe\x00" * 100,
        bytes(range(256)) * 10,
        b"<html><a href=",
        b"<a href='http://[::1'>x</a>",
        "<a href='/a'>下一页</a>".encode() * 3,
    ],
)
def test_garbage_gives_a_listing(raw):
    listing = discover(raw, "http://www.example.gov.cn/list/")
    assert isinstance(listing, Listing)
    assert listing.documents == ()


@pytest.mark.parametrize("url", ["", "not a url", "ftp://x/", "http://[::1"])
def test_bad_page_url_gives_empty_listing(url):
    listing = discover(load("trs_column.html"), url)
    assert (listing.documents, listing.next_pages) == ((), ())


def test_a_discovery_that_crashed_says_why_instead_of_listing_nothing():
    # An empty Listing() was all the crawl saw, and it reported "0 links found".
    assert discover(load("trs_column.html"), "http://www.example.gov.cn/list/").problem == ""
    assert "Invalid IPv6 URL" in discover(load("trs_column.html"), "http://[::1").problem


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_never_raises_on_arbitrary_bytes(raw):
    assert isinstance(discover(raw, "https://www.example.gov.cn/col/"), Listing)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                "<ul>",
                "</ul>",
                "<li>",
                "<a href='2024-01-01/1.html'>",
                "<a href='index_2.html'>",
                "</a>",
                "下一页",
                "2",
                "<!--",
                "-->",
                "<![CDATA[",
                "]]>",
                "<datastore>",
                "<record>",
                "</record>",
                "createPageHTML(3, 0, 'index', 'html')",
                "totalRecord:30 perPage:10 unitid:5",
                "<a tagname='/x-2.html'>",
                "<table><tr><td>",
                "关于做好工作的通知",
                "2024-03-06",
                "<a href='javascript:;' onclick=\"go('/p/3.html')\">3</a>",
                "<base href='::'>",
            ]
        ),
        max_size=60,
    )
)
def test_never_raises_on_html_soup(parts):
    raw = "".join(parts).encode()
    assert isinstance(discover(raw, "https://www.example.gov.cn/col/index.html"), Listing)


# --- origins, credentials and IDN hosts (issue 10, items 4 and 17) ------------------------------


def _column(links: list[str]) -> bytes:
    items = "".join(f'<li><a href="{href}">关于开展第{i}批政务公开专项检查工作的通知</a><span>2024-03-0{i + 1}</span></li>'
                    for i, href in enumerate(links))
    return f"<html><body><ul class='list'>{items}</ul></body></html>".encode()


def test_links_to_another_port_of_the_host_are_dropped():
    page = _column(["/col/202403/t20240301_1.html", "http://www.example.gov.cn:8080/col/202403/t20240302_2.html",
                    "https://www.example.gov.cn/col/202403/t20240303_3.html"])
    listing = discover(page, "http://www.example.gov.cn/col/")
    assert listing.documents == ("http://www.example.gov.cn/col/202403/t20240301_1.html",
                                 "https://www.example.gov.cn/col/202403/t20240303_3.html")


def test_links_keep_no_credentials():
    page = _column(["http://admin:secret@www.example.gov.cn/col/202403/t20240301_1.html",
                    "/col/202403/t20240302_2.html"])
    listing = discover(page, "http://www.example.gov.cn/col/")
    assert listing.documents == ("http://www.example.gov.cn/col/202403/t20240301_1.html",
                                 "http://www.example.gov.cn/col/202403/t20240302_2.html")


PUNY = "xn--mxtq1m.xn--io0a7i"  # 政府.网络


@pytest.mark.parametrize("configured", ["政府.网络", PUNY, PUNY.upper()])
def test_idn_host_in_unicode_or_punycode_is_one_host(configured):
    page = _column([f"http://{PUNY}/col/202403/t20240301_1.html",
                    "http://政府.网络/col/202403/t20240302_2.html",
                    f"http://{PUNY.upper()}/col/202403/t20240301_1.html"])
    listing = discover(page, "http://政府.网络/col/", allowed_hosts=[configured])
    assert listing.documents == (f"http://{PUNY}/col/202403/t20240301_1.html",
                                 f"http://{PUNY}/col/202403/t20240302_2.html")


def test_a_column_of_files_lists_each_file_as_a_document():
    html = """<html><body><div class="nav"><a href="/">首页</a><a href="/zwgk/">政务公开</a></div><ul class="list">
    <li><a href="/zwgk/yjs/P020240201.pdf">示范县2024年部门预算公开表</a><span>2024-02-01</span></li>
    <li><a href="/zwgk/yjs/P020240101.xlsx">示范县2023年财政决算统计表</a><span>2024-01-01</span></li>
    <li><a href="/zwgk/yjs/download?fileId=9">示范县2022年财政决算说明.doc</a><span>2023-01-01</span></li>
    </ul></body></html>"""
    listing = discover(html.encode(), "http://h.test/zwgk/yjs/")
    assert listing.documents == ("http://h.test/zwgk/yjs/P020240201.pdf", "http://h.test/zwgk/yjs/P020240101.xlsx",
                                 "http://h.test/zwgk/yjs/download?fileId=9")
    assert listing.titles["http://h.test/zwgk/yjs/P020240201.pdf"] == "示范县2024年部门预算公开表"
