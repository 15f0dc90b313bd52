"""crawler.extract on small pages mirroring the CMS families of government sites.

The fixture pages under tests/fixtures/extract/ are written for these tests (invented text,
real page structure): TRS WCM, a UCAP-style .shtml page with an 信息公开 metadata table, a
来源/发布时间/点击数 page, Hanweb, a table body, attachments, a GBK page and a template
matching no known container.
"""

from __future__ import annotations

import codecs
import datetime as dt
import random
import re
import sys
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from crawler.extract import Attachment, Document, extract
from crawler.extract.rules import FIELD_LABELS, LINE_BREAKING, RELATED_LABELS

FIXTURES = Path(__file__).parent / "fixtures" / "extract"

#: Page noise that must never reach a body.
NOISE = ("打印", "关闭", "扫一扫", "收藏", "相关链接", "相关附件", "关联稿件", "来源", "发布时间",
         "发布日期", "点击数", "浏览次数", "当前位置", "您当前的位置", "您现在的位置", "网站标识码",
         "版权所有", "ICP", "主办单位", "字号", "/span>", "上一篇", "下一篇", "分享")


def page(name: str, url: str | None = None, **kwargs) -> Document:
    return extract((FIXTURES / name).read_bytes(), url, **kwargs)


def assert_clean(body: str) -> None:
    leaked = [n for n in NOISE if n in body]
    assert not leaked, f"noise in body: {leaked}"


def test_trs_page_keeps_report_and_signature_drops_page_noise():
    doc = page("trs_t20240306.html", "http://www.example.gov.cn/zw/tzgg/202403/t20240306_451851.html")
    assert doc.title == "样例市2023年法治政府建设情况报告"
    assert doc.published == dt.date(2024, 3, 6)
    assert doc.publisher == "样例市司法局"
    lines = doc.body.split("\n")
    assert lines[0] == "州委、州政府："
    assert lines[-2:] == ["中共样例市委 样例市人民政府", "2024年2月27日"]  # date sits after the container
    assert "全年办理政务服务事项12345件，群众满意率达到百分之九十九。" in doc.body
    assert doc.title not in doc.body
    assert "document.write" not in doc.body and "text-indent" not in doc.body
    assert_clean(doc.body)
    assert doc.problem == "" and doc.fields == {} and doc.attachments == ()


def test_ucap_shtml_metadata_table_becomes_fields_not_body():
    doc = page("ucap_report.shtml", "http://www.example.gov.cn/xxgk/c123697/202403/"
                                    "77fd887e5f784c1fad9a67effd8b90c6.shtml")
    assert doc.fields == {
        "索引号": "115000000000000000/2024-00011", "主题分类": "法制", "发布机构": "样例区司法局",
        "文号": "样司发〔2024〕3号", "成文日期": "2024-03-20", "发布日期": "2024-03-22", "有效性": "有效",
    }
    # 发布日期, not 成文日期 (2024-03-20) nor meta PubDate (2024-04-18)
    assert doc.published == dt.date(2024, 3, 22)
    assert doc.title == "样例区2023年法治政府建设年度报告"
    assert doc.publisher == "样例区司法局"
    assert doc.body.startswith("2023年，在区委、区政府坚强领导下")
    assert doc.body.endswith("样例区人民政府\n2024年3月20日")
    assert "选聘8名律师担任法律顾问" in doc.body
    assert "索引号" not in doc.body and "115000000000000000" not in doc.body
    assert_clean(doc.body)


def test_source_time_clicks_line_related_and_stray_span_are_dropped():
    doc = page("click_count.shtml", "http://www.example.gov.cn/xxgk/c123697/202505/"
                                    "07d3dd41b631468f88e45f31cd37f5c7.shtml")
    assert doc.title == "样例县2024年法治政府建设工作报告"
    assert doc.published == dt.date(2025, 3, 5)
    assert doc.publisher == "样例县人民政府"
    assert doc.body.startswith("2024年，样例县始终坚持以法治思想为指导")
    assert doc.body.endswith("为县域高质量发展提供坚实法治保障。")
    assert "截至目前均已完成。" in doc.body
    assert "样例县2023年法治政府建设工作报告" not in doc.body  # the related item
    assert_clean(doc.body)


def test_hanweb_zoom_page():
    doc = page("hanweb_art.html", "http://fgw.example.gov.cn/art/2016/11/22/art_1621004_30332664.html")
    assert doc.title == "前三季度样例县工业投资稳步回升"
    assert doc.published == dt.date(2016, 11, 22)
    assert doc.publisher == "省发改委"
    assert doc.body.split("\n") == [
        "前三季度，全县工业投资完成56.78亿元，比上半年提高两个百分点。",
        "分领域看，技术改造投资占工业投资的比重达到四成，高于全省平均水平。",
        "新开工亿元以上工业项目21个，较去年同期多开工5个。",
        "下阶段将加快项目要素保障，推动投资持续回升。（样例县经信局）",
    ]
    assert_clean(doc.body)
    assert "丨" not in doc.body and "Produced By" not in doc.body


def test_table_rows_are_lines_and_cells_are_tab_separated():
    doc = page("table_body.html")
    assert doc.title == "样例市市场监督管理局行政处罚信息公开表"  # <title> minus the site name
    assert doc.published == dt.date(2022, 5, 6)  # from the .time element
    assert doc.body.split("\n") == [
        "根据有关规定，现将我局作出的行政处罚决定公开如下：",
        "序号\t当事人名称\t处罚决定书文号\t处罚内容",
        "1\t样例商贸有限公司\t样市监罚〔2022〕1号\t警告，罚款人民币5000元",
        "2\t样例食品 加工厂\t样市监罚〔2022〕2号\t没收违法所得，罚款人民币8000元",
        "特此公告。",
    ]


def test_attachments_absolute_deduplicated_documents_only():
    doc = page("attachments.html", "http://www.example.gov.cn/zw/tzgg/202403/t20240301_451814.html")
    assert doc.attachments == (
        Attachment("http://www.example.gov.cn/zw/tzgg/202403/P020240301391200.pdf", "1.行政执法案卷评查标准.pdf"),
        Attachment("http://www.example.gov.cn/zw/tzgg/202403/P020240301391300.docx", "2.评查工作安排表.docx"),
        Attachment("http://www.example.gov.cn/upload/2024/03/table3.XLSX?v=2", "3.评查人员名单.xlsx"),
    )  # no .jpg, nothing from the related-articles list
    assert doc.published == dt.date(2024, 3, 1)
    assert doc.body.startswith("各乡（镇）人民政府，县政府各部门：")
    assert "附件：1.行政执法案卷评查标准.pdf" in doc.body


def test_attachments_stay_relative_without_a_url():
    doc = page("attachments.html")
    assert doc.attachments[0].url == "./P020240301391200.pdf"


def test_gbk_page_with_characters_outside_gb2312():
    raw = (FIXTURES / "gbk_meeting.html").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    for encoding in (None, "gb2312", "GBK", "utf-8"):  # a wrong HTTP charset must not win
        doc = extract(raw, "http://www.example.gov.cn/xxgk/202501/t20250109_1.html", encoding=encoding)
        assert doc.title == "样例县人民政府第十二次常务会议纪要"
        assert doc.published == dt.date(2025, 1, 9)
        assert "县长王国镕主持召开" in doc.body and "副县长李堃" in doc.body
        assert doc.body.endswith("严格落实重大行政决策程序。")
        assert "\ufffd" not in doc.body


def test_unknown_template_found_by_text_density():
    doc = page("unknown_template.html")
    assert doc.title == "第五届样例青年学者论坛在样例大学开幕"  # <title> only names the column
    assert doc.published == dt.date(2019, 5, 18)
    assert doc.publisher == "样例学会"
    assert doc.body.startswith("5月11日至12日，第五届样例青年学者论坛在样例大学举行")
    assert doc.body.endswith("下一届将在样例师范学院举办。")
    for noise in ("新闻排行榜", "样例学会召开第一次理事会", "友情链接", "技术支持", "学会概况"):
        assert noise not in doc.body
    assert_clean(doc.body)


def test_body_selector_overrides_and_falls_back_with_a_problem():
    raw = (FIXTURES / "trs_t20240306.html").read_bytes()
    first = extract(raw, body_selector="div.TRS_Editor > p:first-child")
    assert first.body == "州委、州政府：" and first.problem == ""
    wider = extract(raw, body_selector="div.main")  # title, info line and tools inside: still clean
    assert wider.body.startswith("州委、州政府：") and wider.body.endswith("2024年2月27日")
    assert_clean(wider.body)
    missing = extract(raw, body_selector="#no-such-thing")
    assert missing.body.startswith("州委、州政府：")
    assert "body_selector" in missing.problem and "matched nothing" in missing.problem
    invalid = extract(raw, body_selector="div[[[")
    assert invalid.body.startswith("州委、州政府：") and "body_selector" in invalid.problem


def test_publish_date_fallbacks_meta_then_url():
    html = "<html><head><meta name='PubDate' content='2023-07-08 10:00'><title>通知</title></head>" \
           "<body><div class='TRS_Editor'><p>这是一份没有日期行的通知正文，内容足够长，可以被识别为正文。</p></div></body></html>"
    assert extract(html.encode()).published == dt.date(2023, 7, 8)
    no_meta = html.replace("<meta name='PubDate' content='2023-07-08 10:00'>", "").encode()
    assert extract(no_meta).published is None
    assert extract(no_meta, "http://x.gov.cn/zw/202403/t20240306_451851.html").published == dt.date(2024, 3, 6)
    assert extract(no_meta, "http://x.gov.cn/xxgk/2018-07-12/7479.html").published == dt.date(2018, 7, 12)


def test_written_date_is_not_the_publish_date():
    html = ("<html><body><h1>关于印发某某办法的通知</h1><p>成文日期：2024-02-01</p>"
            "<p>发布时间：2024-02-05 10:00</p><div id='zoom'><p>各单位：现将某某办法印发给你们，请认真贯彻执行。"
            "</p><p>样例县人民政府</p><p>2024年2月1日</p></div></body></html>").encode()
    doc = extract(html)
    assert doc.published == dt.date(2024, 2, 5)
    assert doc.body.endswith("样例县人民政府\n2024年2月1日")


def test_hidden_print_copy_and_scripts_are_ignored():
    html = ("<html><body><div id='UCAP-CONTENT'><p>正文第一段，内容足够长，可以被识别为正文内容。</p></div>"
            "<div id='print' style='DISPLAY: none'><p>打印用的正文副本，不应出现在正文中。</p></div>"
            "<div class='ng-hide'><p>隐藏的相关链接</p></div><script>var a='脚本';</script></body></html>").encode()
    doc = extract(html)
    assert doc.body == "正文第一段，内容足够长，可以被识别为正文内容。"


@pytest.mark.parametrize("raw", [
    b"", b"   \n\t ", b"\x00\x01\x02\xff\xfe\x80" * 50, b"<html>", b"<html><body></body></html>",
    b"<", b"<<<>>>", b"\xef\xbb\xbf", b"<div>" * 20000, b"<table><tr><td>" * 3000,
    bytes(range(256)) * 20, b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj<</Type/Catalog>>\nendobj\n" * 30,
])
def test_garbage_never_raises_and_says_why(raw):
    doc = extract(raw)
    assert isinstance(doc, Document)
    assert doc.body == "" and doc.problem


@pytest.mark.parametrize("raw", [None, "<p>not bytes</p>", 12345])
def test_wrong_types_never_raise(raw):
    doc = extract(raw)  # type: ignore[arg-type]
    assert isinstance(doc, Document) and doc.problem


def test_tiny_page_body_is_its_text():
    doc = extract("<html><body><p>网站改版中</p></body></html>".encode())
    assert doc.body == "网站改版中" and doc.problem == ""
    assert extract(b"<meta charset='no-such-codec'><p>x</p>").body == "x"


def test_utf16_page_with_bom():
    html = "<html><head><title>样例通知</title></head><body><div id='zoom'><p>这是一份以UTF-16保存的通知正文，内容足够长。</p></div></body></html>"
    for codec in ("utf-16", "utf-16-be"):
        raw = (b"\xfe\xff" if codec == "utf-16-be" else b"") + html.encode(codec)
        doc = extract(raw)
        assert doc.title == "样例通知" and doc.body == "这是一份以UTF-16保存的通知正文，内容足够长。"


def test_body_hidden_until_a_script_shows_it_is_still_found():
    html = ("<html><body><div class='hide'><div class='TRS_Editor'><p>只有这一份正文，页面脚本加载后才显示出来。"
            "</p></div></div></body></html>").encode()
    assert extract(html).body == "只有这一份正文，页面脚本加载后才显示出来。"


def test_body_lines_with_generic_time_labels_are_kept():
    html = ("<html><body><div id='zoom'><p>一、报名时间：2024年3月1日 截止日期：2024年3月10日</p>"
            "<p>二、联系人：张三 联系电话：0000-1234567</p><p>主办单位：样例县文化馆</p></div>"
            "<div class='foot'>版权所有 样例县人民政府 网站标识码：0000000000</div></body></html>").encode()
    assert extract(html).body.split("\n") == [
        "一、报名时间：2024年3月1日 截止日期：2024年3月10日", "二、联系人：张三 联系电话：0000-1234567",
        "主办单位：样例县文化馆",
    ]


def test_metadata_as_a_list_of_label_value_items():
    html = ("<html><body><ul class='xxgk'><li><span>索引号：</span><span>000014349/2024-00012</span></li>"
            "<li><span>发文机关：</span><span>样例省人民政府办公厅</span></li><li><span>发文字号：</span>"
            "<span>样政办发〔2024〕5号</span></li><li><span>成文日期：</span><span>2024年01月30日</span></li>"
            "<li><span>发布日期：</span><span>2024年02月02日</span></li></ul><h1>关于做好某项工作的通知</h1>"
            "<div class='pages_content'><p>各市、县人民政府，省政府各部门：经省政府同意，现就做好某项工作通知如下。</p>"
            "</div></body></html>").encode()
    doc = extract(html)
    assert doc.fields == {"索引号": "000014349/2024-00012", "发文机关": "样例省人民政府办公厅",
                          "发文字号": "样政办发〔2024〕5号", "成文日期": "2024年01月30日",
                          "发布日期": "2024年02月02日"}
    assert doc.published == dt.date(2024, 2, 2) and doc.publisher == "样例省人民政府办公厅"
    assert doc.title == "关于做好某项工作的通知"
    assert doc.body == "各市、县人民政府，省政府各部门：经省政府同意，现就做好某项工作通知如下。"


@pytest.mark.parametrize("magic", [b"%PDF-1.4\n", b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"])
def test_attachment_bytes_are_not_pages(magic):
    doc = extract(magic + b"\x00" * 100)
    assert doc.body == "" and doc.problem.startswith("not an HTML page")


def test_related_articles_inside_the_container_are_dropped():
    items = "".join(f"<li><a href='/zw/{i}.html'>样例县第{i}期工作简报标题</a></li>" for i in range(5))
    html = (f"<html><body><div class='article-content'><p>正文第一段，介绍本次工作的总体情况和主要成效。</p>"
            f"<p>正文最后一段，提出下一步工作要求。</p><div><h4>相关阅读</h4><ul>{items}</ul></div>"
            f"<p>附件：<a href='/f/a.pdf'>工作方案.pdf</a></p></div></body></html>").encode()
    doc = extract(html, "http://www.example.gov.cn/zw/t20240101_1.html")
    assert doc.body.split("\n") == ["正文第一段，介绍本次工作的总体情况和主要成效。", "正文最后一段，提出下一步工作要求。",
                                     "附件：工作方案.pdf"]
    assert doc.attachments == (Attachment("http://www.example.gov.cn/f/a.pdf", "工作方案.pdf"),)


def test_word_table_page_is_the_table_not_the_sidebar():
    # The whole content is a table pasted from Word (MsoNormal paragraphs in short cells, mso-
    # styles); a sidebar of Q&A paragraphs before the heading has more prose than the table.
    doc = page("word_table_penalty.html", "http://www.example.gov.cn/zwgk/xzcf/202308/t20230814_1.html")
    assert doc.title == "样例县农业农村局行政处罚信息公开表"
    assert doc.published == dt.date(2023, 8, 14)
    assert doc.body.split("\n") == [
        "行政处罚决定书文号\t样农罚〔2023〕7号", "案件名称\t某农资店经营假农药案", "违法企业名称\t样例县某农资店",
        "主要违法事实\t经营假农药50公斤", "处罚依据\t《农药管理条例》第五十五条", "处罚结果\t没收假农药，罚款5000元",
        "作出处罚的机关和日期\t样例县农业农村局2023年8月10日",
    ]
    assert "问：" not in doc.body and "答：" not in doc.body
    assert_clean(doc.body)


def test_table_of_short_cells_after_the_heading_beats_sidebar_prose():
    # No cell holds 8 characters: the cells of a row count together.
    sidebar = "".join(f"<p>问：第{i}个常见问题是什么，应当怎样办理？答：按照有关规定，到政务服务中心窗口办理。</p>"
                      for i in range(3))
    rows = "".join(f"<tr><td><p class=MsoNormal>{i}</p></td><td><p class=MsoNormal>样例村张{i}</p></td>"
                   f"<td><p class=MsoNormal>{i}200元</p></td></tr>" for i in range(1, 9))
    html = (f"<html><head><title>补贴发放名单_样例镇</title></head><body><div class='l'>{sidebar}</div>"
            f"<div class='r'><h1>补贴发放名单</h1><div class='c'><table>{rows}</table></div></div></body></html>")
    doc = extract(html.encode())
    assert doc.body.split("\n")[:2] == ["1\t样例村张1\t1200元", "2\t样例村张2\t2200元"] and "问：" not in doc.body


def test_related_article_dates_are_not_the_page_date():
    # The 信息公开 block gives 生成日期; the 关联稿件 list after the body has 发布日期 lines of its own.
    doc = page("related_generated_date.html", "http://www.example.gov.cn/col/col1229/art_1229_5023456.html")
    assert doc.fields["生成日期"] == "2024-05-10"
    assert doc.published == dt.date(2024, 5, 10)
    assert doc.body.endswith("二、加强农资供应保障，做好种子、化肥储备调运。\n样例市农业农村局")
    assert "秋冬种" not in doc.body
    # Without the block, a related item's date is still never the page's: the URL's is.
    raw = (FIXTURES / "related_generated_date.html").read_bytes()
    start, end = raw.index(b"<table"), raw.index(b"</table>") + len(b"</table>")
    doc = extract(raw[:start] + raw[end:], "http://www.example.gov.cn/art/2024/5/10/art_1229_5023456.html")
    assert doc.published == dt.date(2024, 5, 10)


def test_issue_date_and_publish_date_are_both_kept_and_published_is_the_publish_date():
    # 发布日期 in the line under the heading; 发文日期 (the date the document was issued) in the
    # 信息公开 table after it, whose label cells have no colons.
    doc = page("issued_and_published.html", "http://www.example.gov.cn/zwgk/wjk/content_4567.html")
    assert doc.fields == {"索引号": "000014349/2024-00031", "主题分类": "综合政务", "发文机关": "样例省人民政府办公厅",
                          "发文字号": "样政办发〔2024〕9号", "发文日期": "2024-02-28", "有效性": "有效"}
    assert doc.published == dt.date(2024, 3, 5)
    assert doc.publisher == "样例省人民政府办公厅"
    assert doc.body.startswith("各市、县人民政府，省政府各部门、各直属机构：")
    assert doc.body.endswith("样例省人民政府办公厅\n2024年2月28日")
    both = extract(b"<html><body><table><tr><td>\xe7\xb4\xa2\xe5\xbc\x95\xe5\x8f\xb7\xef\xbc\x9aA-1</td></tr>"
                   + "<tr><td>成文日期：2024-01-30</td><td>发布日期：2024-02-02</td><td>发布机构：样例局</td></tr>"
                     "</table><div id='zoom'><p>正文第一段，内容足够长，可以被识别为正文内容。</p></div></body></html>".encode())
    assert both.fields["成文日期"] == "2024-01-30" and both.fields["发布日期"] == "2024-02-02"
    assert both.published == dt.date(2024, 2, 2)


def test_download_links_without_an_extension_are_attachments_when_they_say_so():
    html = """<html><head><title>关于印发工作方案的通知</title></head><body><div class="nav"><a href="/">首页</a></div>
    <div class="TRS_Editor"><p>各乡镇人民政府：现将工作方案印发给你们，请认真贯彻执行，确保各项任务落到实处。</p>
    <p>附件：<a href="/download?fileId=123">工作方案.docx</a> <a href="/download?fileId=124">预算表.XLS（35KB）</a></p>
    <p><a href="/jpaas/download?fileName=x.wps">附件2</a> <a href="/file/get?id=9" download>附件3</a></p>
    <p><a href="/zwgk/other.html">其他通知</a> <a href="/download?fileId=125">下载</a></p></div></body></html>"""
    doc = extract(html.encode(), "http://h.test/zwgk/t20240101_1.html")
    assert doc.attachments == (
        Attachment("http://h.test/download?fileId=123", "工作方案.docx"),
        Attachment("http://h.test/download?fileId=124", "预算表.XLS（35KB）"),
        Attachment("http://h.test/jpaas/download?fileName=x.wps", "附件2"),
        Attachment("http://h.test/file/get?id=9", "附件3"),
    )


def test_labelled_dates_are_found_as_the_plain_pattern_finds_them():
    """From the labels' ends, with each run of spaces read once, as the plain pattern (tried at
    every position, cubic in spaces) finds them."""
    meta = sys.modules["crawler.extract.meta"]  # the package's `extract` function shadows its name
    plain = re.compile(r"([\u4e00-\u9fff]{0,4}(?:日期|时间))\s*[:：]?\s*[\[(（]?\s*"
                       r"((?:19|20)\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)")
    pieces = ["发布日期", "成文日期", "日期", "时间", "发布时间：", "更新时间", "日", "期", "时", "间", "：", ":", " ",
              "  ", "\t", "\u3000", "2024-05-06", "2024年5月6日", "2024", "-", "05", "（", "[", "(", "x", "政府", "\n",
              "20240506", "2024-13-45"]
    rng = random.Random(11)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 40))) for _ in range(6000)]
    assert sum(bool(plain.search(text)) for text in texts) > 2000
    for text in texts:
        assert ([(m.span(), m.groups()) for m in meta._labelled_dates(text)]
                == [(m.span(), m.groups()) for m in plain.finditer(text)]), text


def test_the_body_skeleton_is_every_element_holding_a_line_break():
    """The walk that finds the skeleton agrees with its definition by a CSS query, on every
    element of every fixture page."""
    render = sys.modules["crawler.extract.render"]
    breaking = ", ".join(sorted(LINE_BREAKING))

    def by_css(node):
        marked, top = set(), node.mem_id
        for inner in node.css(breaking):
            if inner.mem_id == top:  # css() matches the node itself too
                continue
            parent = inner.parent
            while parent is not None and parent.mem_id not in marked:
                marked.add(parent.mem_id)
                if parent.mem_id == top:
                    break
                parent = parent.parent
        return marked | {top}

    checked = 0
    for path in sorted(FIXTURES.iterdir()):
        for node in LexborHTMLParser(path.read_bytes()).css("body *"):
            assert render._skeleton(node) == by_css(node), (path.name, node.tag)
            checked += 1
    assert checked > 400


def test_page_bytes_are_reused_for_the_parse_only_when_they_are_the_texts_utf8(monkeypatch):
    tree = sys.modules["crawler.extract.tree"]
    page = sys.modules["crawler.extract.page"]
    parse, given = tree.parse, []

    def checked_parse(html, *, drop_hidden, utf8=None):
        assert utf8 is None or utf8 == html.encode("utf-8")
        given.append(utf8 is not None)
        return parse(html, drop_hidden=drop_hidden, utf8=utf8)

    monkeypatch.setattr(page, "parse", checked_parse)
    body = "<html><head><title>通知</title></head><body><div id=zoom><p>{}各部门，现将通知印发给你们。</p></div></body></html>"
    pages = {"utf-8": body.format("").encode(), "BOM": codecs.BOM_UTF8 + body.format("").encode(),
             "NUL": body.format("\x00").encode(), "bad byte": body.format("").encode() + b"\xff\xfe<p>x",
             "U+FFFD written": body.format("\ufffd").encode(), "GBK": body.format("").encode("gb18030"),
             "GBK said UTF-8": body.format("").encode("gb18030")}
    for name, raw in pages.items():
        given.clear()
        assert "各部门" in extract(raw, encoding="utf-8" if name == "GBK said UTF-8" else None).body, name
        assert given == [name == "utf-8"], name


def test_the_related_content_cut_is_where_the_plain_pattern_cuts():
    page = sys.modules["crawler.extract.page"]
    heading = re.compile(r"\n[^\S\n]*[【\[]?(?:" + "|".join(RELATED_LABELS) + ")")  # in "\n" + text

    def plain(text):
        related = heading.search("\n" + text)
        return text[:max(related.start() - 1, 0)] if related else text

    pieces = [*RELATED_LABELS, "\n", " ", "\u3000", "\t", "\r", "【", "[", "x", "相关", "新闻", "上一", "正文"]
    rng = random.Random(5)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 14))) for _ in range(20000)]
    assert sum(plain(text) != text for text in texts) > 5000
    for text in texts:
        assert page._before_related(text) == plain(text), repr(text)


def test_label_cells_are_found_as_the_plain_pattern_finds_them():
    """Label cells are found from the labels, as the plain multiline pattern (tried at every
    position, quadratic in blank lines) finds them."""
    fields = sys.modules["crawler.extract.fields"]
    plain = re.compile(r"^\s*(" + "|".join(sorted(FIELD_LABELS, key=len, reverse=True)) + r")\s*[:：]?\s*$",
                       re.MULTILINE)
    pieces = [*FIELD_LABELS[:8], "信息索引号", "\n", "\n\n", " ", "\t", "\r", "\u3000", "\x0b", "\u2028", "：", ":",
              "x", "文"]
    rng = random.Random(9)
    texts = ["".join(rng.choices(pieces, k=rng.randint(0, 16))) for _ in range(20000)]
    assert sum(bool(plain.findall(text)) for text in texts) > 4000
    for text in texts:
        assert fields._label_cells(text) == plain.findall(text), repr(text)
