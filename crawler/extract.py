"""Extraction: page bytes → :class:`Document` (title, date, publisher, 信息公开 fields, body, attachments).

A pure function: no network, no database, never raises.

How a page is read (each step's rules are the named tables below):

1. decode (:func:`crawler.encoding.decode_html`), parse once with Lexbor, read ``<meta>``/``<title>``;
2. drop what is never content: scripts, styles, form controls, hidden elements (inline style,
   ``hidden``, ng-hide …; if that leaves no body, the page is read again keeping them);
3. find the 信息公开 metadata block (label/value table or list around 索引号/发布机构/文号 …), read
   it into ``fields`` and take it out of the page;
4. find the body container: the caller's ``body_selector``, else the content containers CMS
   families use (:data:`CONTENT_SELECTORS`), else a text-density score (Chinese text vs link text
   per block, readability style), widened to take in attachment links right after a table;
5. render the body as lines (tables one row per line, cells tab-separated), drop the noise
   inside it (print/close/share/QR widgets, related-link lists, 来源/发布时间/点击数 lines,
   breadcrumbs, footers, stray ``/span>``) and keep a signature/date just after the container;
6. title, publish date and publisher from the page around the body: meta ArticleTitle / heading,
   发布日期/发布时间 lines (never 成文日期), meta PubDate, the URL.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from crawler.encoding import decode_html

__all__ = ["Attachment", "Document", "extract"]


@dataclass(frozen=True)
class Attachment:
    """A file linked from a document: absolute URL and the link's text."""

    url: str
    text: str


@dataclass(frozen=True)
class Document:
    """What a document page says, without the page around it."""

    title: str = ""
    published: dt.date | None = None
    publisher: str = ""
    body: str = ""
    fields: dict[str, str] = field(default_factory=dict)
    attachments: tuple[Attachment, ...] = ()
    #: Why the body is empty or doubtful ("empty page", "no body found" …); "" when all went well.
    problem: str = ""


# ---------------------------------------------------------------------------------------------
# Rule tables
# ---------------------------------------------------------------------------------------------

#: Files that are not pages (a crawler may be handed an attachment): magic bytes → kind.
NOT_HTML_MAGIC = ((b"%PDF-", "pdf"), (b"PK\x03\x04", "zip/docx/xlsx/ofd"),
                  (b"\xd0\xcf\x11\xe0", "doc/xls/wps"), (b"Rar!", "rar"), (b"7z\xbc\xaf", "7z"),
                  (b"\x89PNG", "png"), (b"GIF8", "gif"), (b"\xff\xd8\xff", "jpeg"),
                  (b"\x1f\x8b", "gzip"))
#: Share of replacement/control characters above which decoded bytes are not text.
MAX_BAD_CHAR_SHARE = 0.05

#: Elements that never hold readable content; removed before anything else.
JUNK_TAGS = ("script", "style", "noscript", "template", "select", "button", "textarea", "iframe",
             "object")

#: Elements that may be hidden; :data:`HIDDEN_STYLE` decides from their inline style. Print
#: copies of the body, hidden related-link popups and share titles live here.
MAYBE_HIDDEN_SELECTOR = '[style*="none" i], [style*="hidden" i], [hidden]'
#: Classes that hide an element (AngularJS, Bootstrap and common utility classes).
HIDDEN_CLASSES = (".ng-hide", ".hidden", ".hide", ".d-none", ".display-none")
HIDDEN_STYLE = re.compile(r"display\s*:\s*none|visibility\s*:\s*hidden", re.IGNORECASE)

#: Body containers of CMS families, as simple ``#id`` / ``.class`` / ``.class1.class2``
#: selectors (matched case-sensitively, as browsers do). A match counts when it holds text
#: (see :data:`MIN_BODY_CHARS`); among several matching, the one with the most text wins.
CONTENT_SELECTORS = (
    # TRS WCM / TRS 党政 / UCAP / 国务院公报
    "#UCAP-CONTENT", ".TRS_UEDITOR", ".TRS_Editor", ".trs_editor_view", ".trs_paper_default",
    ".pages_content", "#PrintArea", "#printArea", "#printContent",
    # Hanweb 大汉 and site groups using the zoom (font size) container
    "#zoom", "#Zoom", "#zoomcon", "#fontzoom", "#zoomtext", ".main-txt", "#art_content",
    ".art_con", ".art_content", ".arc_content", ".bt-article-content",
    # VSB (博达), ETUI (上海), Gansu/Jiangxi site groups
    "#vsb_content", "#ivs_content", ".Article_content", "#detailContent", ".detailContent",
    # generic article containers of county and department templates
    ".article-content", ".article_content", ".articleContent", "#articleContent", ".article_con",
    ".content_article", ".news_content", ".newsContent", ".news-content", "#news_content",
    ".con_text", ".wz_content", ".wzcon", ".zwnr", ".xl_content", ".xl-content", ".zw-con",
    ".detail-content", ".detail_content", ".details-content", ".vF_detail_content",
    ".detailCon", ".article_content_mix", "#content_text", ".contentText", ".content_text",
)

#: A container with less non-link text than this is treated as empty (a widget, a stub).
MIN_BODY_CHARS = 20

#: Inside the body: elements whose id or class contains one of these (lower-cased) are
#: widgets, never the document: QR codes, share bars, font-size switches, related links,
#: previous/next links, breadcrumbs.
BODY_NOISE_MARKERS = ("qr_container", "qrcode", "erweima", "share", "fontsize", "xglj", "related",
                      "xgwz", "xgxx", "pageup", "prevnext", "prev_next", "breadcrumb", "crumb",
                      "position", "xgwj")

#: Inside the body, blocks of this kind whose text is mostly links to other pages (at least
#: :data:`MIN_LINK_LIST_LINKS` of them, :data:`MIN_LINK_LIST_DENSITY` of the text) are lists of
#: related articles or menus, not the document. Links to attachments do not count.
LINK_LIST_SELECTOR = "ul, ol, dl, table, div"
MIN_LINK_LIST_LINKS = 3
MIN_LINK_LIST_DENSITY = 0.7

#: Tags rendered as their own line(s).
BLOCK_TAGS = frozenset((
    "p", "div", "section", "article", "main", "header", "footer", "aside", "nav", "ul", "ol", "li",
    "dl", "dt", "dd", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "form", "fieldset",
    "figure", "figcaption", "address", "center", "hr", "caption", "details", "summary", "table",
    "thead", "tbody", "tfoot", "tr",
))

#: A body found by text density grows to its parent when the parent adds attachment links
#: and at most this much other text (a table-only body followed by its files).
MAX_WIDEN_CHARS = 40

#: Inline tags: text in them belongs to the enclosing block (density scoring).
INLINE_TAGS = frozenset((
    "span", "font", "b", "strong", "em", "i", "u", "a", "sup", "sub", "small", "big", "label",
    "abbr", "cite", "code", "s", "strike", "ins", "del", "mark", "q", "tt", "var", "o:p",
    "st1:chsdate",
))

#: Table parts skipped when text scores are passed up to ancestors.
TABLE_PARTS = frozenset(("td", "th", "tr", "tbody", "thead", "tfoot"))

#: The 信息公开 metadata labels; a block holding several of them is the metadata block.
FIELD_LABELS = (
    "信息索引号", "索引号", "统一编号", "发布机构", "发文机关", "发文机构", "发布单位", "公开主体",
    "文号", "发文字号", "发文文号", "主题分类", "主题词", "体裁分类", "组配分类", "服务对象",
    "信息分类", "内容分类", "公文种类", "成文日期", "发文日期", "印发日期", "发布日期", "公开日期",
    "生效日期", "失效日期", "废止日期", "施行日期", "有效性", "时效性", "是否有效", "公开方式",
    "公开范围", "公开形式", "公开时限", "关键词", "名称", "标题", "所属机构", "信息来源",
)
#: Labels strong enough to anchor the search for the metadata block.
FIELD_ANCHORS = ("索引号", "发布机构", "发文机关", "成文日期", "主题分类", "发文字号", "有效性")
#: How many distinct labels make a block the metadata block.
MIN_FIELD_LABELS = 3
#: A metadata block is small; larger ancestors are the page.
MAX_FIELD_BLOCK_CHARS = 1200

#: Date labels, in order of trust. 成文日期 and the like are never the publish date.
PUBLISH_DATE_LABELS = ("发布日期", "发布时间", "发表日期", "发表时间", "公开日期", "公开时间",
                       "发稿时间", "发稿日期", "上网时间", "上网日期", "刊发时间", "公告时间", "发文日期")
LOOSE_DATE_LABELS = ("日期", "时间", "更新时间", "更新日期")
NOT_PUBLISH_DATE = ("成文", "印发", "生效", "失效", "废止", "施行", "开标", "截止", "报名", "开始",
                    "结束", "签署", "通过", "实施", "会议", "活动", "申请", "受理")
#: Fields holding the publish date, in order of trust.
PUBLISH_DATE_FIELDS = ("发布日期", "公开日期", "发布时间")
#: ``<meta name=…>`` holding the publish date / title / source, in order of trust.
META_DATE_NAMES = ("pubdate", "publishdate", "firstpublishedtime", "article:published_time",
                   "og:release_date", "datepublished", "dc.date", "maketime")
META_TITLE_NAMES = ("articletitle", "og:title", "dc.title")
META_SOURCE_NAMES = ("contentsource",)
#: Elements that hold the date by convention (id/class), used when no label says 发布日期.
DATE_ELEMENT_SELECTOR = (
    "#pubTime, #pubtime, .pubTime, .pubtime, .pubDate, .pub_date, .pub-date, #pubDate, "
    ".pages-date, .publish-time, .publishTime, #ivs_date, .Article-time, .article-time, "
    ".date, .time, .fbsj, .fbrq")
#: How close to the body (characters of page text before it) a date element must be.
NEAR_BODY_CHARS = 400
#: Where a title is shown (besides h1–h3 and meta ArticleTitle).
TITLE_SELECTOR = ("h1, h2, h3, h4, h5, [class*=title i], [id*=title i], .bt, .tit, "
                  ".article-tit, .art_tit, .content_tit, .xxgk_title")
#: Separators between a title and the site name in ``<title>``.
TITLE_SUFFIX_SPLIT = re.compile(r"\s*(?:__|_|\s-\s|--|—{1,2}|\s\|\s|｜|\|)\s*")
#: Where ``<title>`` may be cut to find the heading shown on the page.
_TITLE_CUT = re.compile(r"\s*(?:__|_|-|--|—|\||｜|·|\s)")
#: Title candidates that are labels of page furniture, not the document.
NOT_TITLES = ("相关链接", "相关稿件", "友情链接", "相关文章", "相关新闻", "附件", "当前位置", "分享",
              "打印", "关闭", "首页", "网站地图", "新闻排行", "热点", "推荐")

#: Fields naming the publisher, in order of trust.
PUBLISHER_FIELDS = ("发布机构", "发文机关", "发文机构", "发布单位", "公开主体")
#: Publisher lines: ``来源：X`` (X until the next label).
SOURCE_RE = re.compile(
    r"(?:信息来源|文章来源|稿件来源|来源单位|来源|发布机构|发布单位)\s*[:：]\s*"
    r"(.{1,60}?)\s*(?=作\s*者|发布者|编辑|责任编辑|浏览|点击|阅读|访问|发布时间|发布日期|时间|日期|"
    r"字号|字体|【|\[|\||丨|\s{2,}|\n|$)")

#: Noise lines (matched against a whole body line, whitespace removed): dropped anywhere.
NOISE_LINE_PATTERNS = (
    (r"(?:[【\[]?(?:打印本页|打印文本|打印此页|打印页面|打印正文|打印|关闭窗口|关闭本页|关闭|返回顶部|"
     r"返回|收藏本页|收藏|加入收藏|分享到?|保存|纠错|我要纠错|字号|字体|大|中|小|默认|"
     r"\d{1,2}px)[】\]]?[|:：丨/]?)+"),
    r"扫一扫在手机(?:上)?(?:打开|查看|浏览)当前页(?:面)?",
    r"(?:扫一扫|手机扫一扫|微信扫一扫|用手机扫描二维码).{0,12}",
    (r"(?:相关链接|相关附件|关联稿件|相关稿件|相关文章|相关新闻|相关阅读|相关公告|相关解读|"
     r"相关文件|附件下载|相关信息)[:：]?"),
    r"(?:当前位置|您当前的位置|您现在的位置|您所在的位置|当前所在位置|您现在所在的位置|所在位置)[:：].*",
    r"(?:上一篇|下一篇|上一条|下一条)[:：].*",
    r"(?:分享到|分享至|分享)[:：].*|分享到",
    r"/?span>",
)
#: Lines made of 来源/发布时间/点击数-style labels (two or more, each with a colon).
#: A line is such a line when it holds two labels, one of them strong (generic 时间/作者 alone may
#: be body text: 报名时间：… 截止日期：…); a label right after a Chinese character does not count.
META_LINE_LABELS = ("来源", "信息来源", "文章来源", "稿件来源", "发布时间", "发布日期", "发布者",
                    "点击数", "点击量", "点击率", "浏览次数", "浏览量", "阅读次数", "阅读量", "访问量",
                    "访问次数", "责任编辑", "字号", "字体", "文字大小")
WEAK_META_LINE_LABELS = ("时间", "日期", "作者", "编辑", "摄影", "发布", "更新时间", "录入")
#: Footer lines: dropped only at the end of the body.
FOOTER_MARKERS = ("版权所有", "ICP备", "ICP证", "网站标识码", "公网安备", "Copyright", "©",
                  "Produced By", "建议使用", "分辨率")
#: Weaker footer words: a closing line needs two of them (a notice may end with 主办单位：…).
WEAK_FOOTER_MARKERS = ("主办单位", "承办单位", "技术支持", "运行维护", "联系我们", "网站地图", "主办：",
                       "承办：", "地址：", "邮编", "关于我们", "隐私")

#: Headings of related-content blocks (never the document, never its attachments).
RELATED_LABELS = ("相关链接", "相关文章", "相关新闻", "相关稿件", "关联稿件", "相关阅读", "相关公告",
                  "相关解读", "相关信息", "相关文件", "推荐阅读", "热点新闻", "新闻排行", "上一篇", "下一篇")

#: Link targets that are attachments (documents and archives, not images).
ATTACHMENT_EXTENSIONS = frozenset((
    "pdf", "doc", "docx", "wps", "xls", "xlsx", "et", "ofd", "zip", "rar", "7z", "txt", "csv",
    "ppt", "pptx", "dps",
))

#: A line that may close a document after its container: a signature or a date.
SIGNATURE_DATE_RE = re.compile(r"(?:19|20)\d\d\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*$")
#: At most this many sibling elements after the container are checked for a signature.
SIGNATURE_SIBLINGS = 3

# Compiled once.
_LINE_BREAKING = ", ".join(sorted(BLOCK_TAGS | {"br", "td", "th"}))
_NOISE_LINE = re.compile("(?:" + "|".join(NOISE_LINE_PATTERNS) + ")$")
_NOT_AFTER_CJK = r"(?<![\u4e00-\u9fff])"
_META_LINE_LABEL = re.compile(_NOT_AFTER_CJK + "(" + "|".join(sorted(META_LINE_LABELS, key=len, reverse=True))
                              + r")\s*[:：]")
_WEAK_META_LINE_LABEL = re.compile(_NOT_AFTER_CJK + "(" + "|".join(
    sorted(WEAK_META_LINE_LABELS, key=len, reverse=True)) + r")\s*[:：]")
_FIELD_LABEL = re.compile("(" + "|".join(sorted(FIELD_LABELS, key=len, reverse=True))
                          + r")\s*[:：]")
_FIELD_LABEL_ALONE = re.compile(_NOT_AFTER_CJK + _FIELD_LABEL.pattern)
_KNOWN_LABEL = "|".join(sorted(FIELD_LABELS, key=len, reverse=True))
_FIELD_PAIR = re.compile(r"(" + _KNOWN_LABEL + r"|(?:^|(?<=[\t\n ]))[\u4e00-\u9fff]{2,8})\s*[:：]\s*"
                         r"([^\t\n]*?)\s*(?=[\t\n]|(?:" + _KNOWN_LABEL + r")\s*[:：]|$)", re.MULTILINE)
_DATE = r"((?:19|20)\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)"
_DATE_RE = re.compile(_DATE)
_LABELLED_DATE = re.compile(r"([\u4e00-\u9fff]{0,4}(?:日期|时间))\s*[:：]?\s*[\[(（]?\s*" + _DATE)
_URL_DATES = (re.compile(r"[/_]t?((?:19|20)\d\d)(\d\d)(\d\d)_\d+"),
              re.compile(r"/((?:19|20)\d\d)-(\d\d)-(\d\d)/"),
              re.compile(r"/((?:19|20)\d\d)(\d\d)(\d\d)/"),
              re.compile(r"/art/((?:19|20)\d\d)/(\d{1,2})/(\d{1,2})/"))
_PAGE_URL = (re.compile(r"<!--\s*saved from url=\(\d+\)(https?://\S+?)\s*-->", re.IGNORECASE),
             re.compile(r"<!--\s*Mirrored from (\S+?) by HTTrack", re.IGNORECASE),
             re.compile(r"<!--\s*(https?://\S+?)\s*-->"))
_BAD_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")
_TAG_FRAGMENT = re.compile(r"(?:</?|/)(?:span|p|div|font|strong|b|em|br|a|td|tr)\s*/?>", re.IGNORECASE)


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------

def extract(raw: bytes, url: str | None = None, *, body_selector: str = "",
            encoding: str | None = None) -> Document:
    """Extract the document from a page's bytes. ``encoding`` is the HTTP charset, if any."""
    try:
        return _extract(raw, url, body_selector, encoding)
    except Exception as exc:  # noqa: BLE001 - never raise: an unreadable page is a Document with a problem
        return Document(problem=f"extraction failed: {type(exc).__name__}: {exc}"[:300])


def _extract(raw: bytes, url: str | None, body_selector: str, encoding: str | None) -> Document:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        return Document(problem="not bytes")
    raw = bytes(raw)
    if not raw.strip():
        return Document(problem="empty page")
    kind = next((k for magic, k in NOT_HTML_MAGIC if raw.lstrip()[:len(magic)] == magic), "")
    if kind:
        return Document(problem=f"not an HTML page: {kind}")
    text = decode_html(raw, encoding)[0]
    if _looks_binary(text):
        return Document(problem="not an HTML page: binary or undecodable bytes")
    if "\x00" in text:
        text = text.replace("\x00", "")
    url = url or _url_from_comments(text[:3000]) or ""
    doc = _read_page(text, url, body_selector, drop_hidden=True)
    if not doc.body:  # the body may sit in an element hidden until a script shows it
        retry = _read_page(text, url, body_selector, drop_hidden=False)
        if retry.body:
            return retry
    return doc


def _read_page(text: str, url: str, body_selector: str, *, drop_hidden: bool) -> Document:
    tree = LexborHTMLParser(text)
    head = _read_head(tree)
    _remove(tree, ", ".join(JUNK_TAGS))
    if drop_hidden:
        _remove_hidden(tree)
    root = tree.body or tree.root
    if root is None:
        return Document(title=head["title"], problem="no body found")
    return _Page(tree, root, head, url).document(body_selector)


def _looks_binary(text: str) -> bool:
    sample = text[:4000]
    return len(_BAD_CHAR.findall(sample)) > len(sample) * MAX_BAD_CHAR_SHARE


def _remove(tree, selector: str) -> None:
    # Lexbor only unlinks removed nodes, so removing a node inside an already removed one is safe.
    for node in tree.css(selector):
        if node.tag not in ("html", "body"):
            node.decompose()


def _remove_hidden(tree) -> None:
    for node in tree.css(MAYBE_HIDDEN_SELECTOR):
        style = node.attrs.get("style") or ""
        if (HIDDEN_STYLE.search(style) or "hidden" in node.attrs) and node.tag not in ("html", "body"):
            node.decompose()
    _remove(tree, ", ".join(HIDDEN_CLASSES))


def _url_from_comments(start: str) -> str:
    for pattern in _PAGE_URL:
        m = pattern.search(start)
        if m:
            found = m.group(1)
            return found if "://" in found else "http://" + found
    return ""


def _read_head(tree) -> dict:
    """``<title>`` and the ``<meta name/property>`` values (names lower-cased), first wins."""
    meta: dict[str, str] = {}
    for node in tree.css("meta"):
        attrs = node.attributes
        name = (attrs.get("name") or attrs.get("property") or attrs.get("itemprop") or "").strip()
        content = _clean(attrs.get("content") or "")
        if name and content and name.lower() not in meta:
            meta[name.lower()] = content
    title_node = tree.css_first("title")
    return {"title": _clean(title_node.text()) if title_node else "", "meta": meta}


def _words(s: str) -> list[str]:
    """The runs of ``s`` between whitespace (full-width and no-break spaces too), invisible marks dropped."""
    if "\u200b" in s or "\ufeff" in s:
        s = s.replace("\u200b", "").replace("\ufeff", "")
    return s.split()


def _clean(s: str) -> str:
    """Whitespace runs → one space; ends stripped."""
    return " ".join(_words(s)) if s else ""


def _squeeze(s: str) -> str:
    """The text without any whitespace (for comparisons and counting)."""
    return "".join(_words(s)) if s else ""


# ---------------------------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------------------------

class _Page:
    """One parsed page; each method answers one question about it."""

    def __init__(self, tree, root, head: dict, url: str):
        self.tree, self.root, self.head, self.url = tree, root, head, url
        self.meta: dict[str, str] = head["meta"]

    def document(self, body_selector: str) -> Document:
        page_text = self.root.text(separator="\n")
        fields, field_block = _find_fields(self.root, page_text)
        if field_block is not None:  # never part of the body
            field_block.decompose()
        container, problem = self.find_container(body_selector)
        before, after = _split_around(page_text, container)
        title = self.title(container, before) or fields.get("标题", "") or fields.get("名称", "")
        body = ""
        attachments: tuple[Attachment, ...] = ()
        if container is not None:
            attachments = _attachments(container, self.url)
            _clean_container(container)
            body = _render_body(container, title)
        if not body and not problem:
            problem = "no body found"
        head = container.text(separator="\n")[:300] if container is not None else ""
        return Document(title=title, published=self.published(fields, before, after, head),
                        publisher=self.publisher(fields, before), body=body, fields=fields,
                        attachments=attachments, problem=problem)

    # -- body container ----------------------------------------------------------------------

    def find_container(self, body_selector: str):
        problem = ""
        if body_selector:
            try:
                matches = self.root.css(body_selector)
            except SelectolaxError:
                matches = []
                problem = f"body_selector {body_selector!r} is not valid CSS; body found automatically"
            best = _largest(matches)
            if best is not None and _squeeze(best.text()):
                return best, ""
            problem = problem or f"body_selector {body_selector!r} matched nothing; body found automatically"
        node = _by_selectors(self.root) or _by_density(self.root)
        if node is None and self.root.css_first("body *") and _squeeze(self.root.text()):
            node = self.root  # a tiny page: its whole text is the body
        return node, problem

    # -- title -------------------------------------------------------------------------------

    def title(self, container, before: str) -> str:
        """meta ArticleTitle; else a heading ``<title>`` contains; else ``<title>`` cut to a line
        shown on the page or opening the body; else the heading before the body; else ``<title>``
        without the site name."""
        meta_title = next((self.meta[n] for n in META_TITLE_NAMES if self.meta.get(n)), "")
        if meta_title and not _is_site_name(meta_title, self.meta):
            return meta_title
        page_title = self.head["title"]
        nodes = self._title_nodes()
        return (_heading_in_title(nodes, page_title) or _title_line(page_title, before)
                or _title_opening_body(page_title, container, self.meta)
                or _heading_before(nodes, container) or _strip_site_suffix(page_title, self.meta))

    def _title_nodes(self) -> list:
        return self.root.css(TITLE_SELECTOR)

    # -- date --------------------------------------------------------------------------------

    def published(self, fields: dict, before: str, after: str, head: str) -> dt.date | None:
        """发布日期 field; else the labelled date nearest before the body, at its top (strong
        labels only) or after it; else a date element, meta PubDate, the URL, a bare date."""
        for key in PUBLISH_DATE_FIELDS:
            day = _parse_date(fields.get(key, ""))
            if day:
                return day
        day = (_labelled_date(before, last=True) or _labelled_date(head, last=False, allow_loose=False)
               or _labelled_date(after, last=False))
        if day:
            return day
        day = self.date_element(before[-NEAR_BODY_CHARS:] + head)
        if day:
            return day
        for name in META_DATE_NAMES:
            day = _parse_date(self.meta.get(name, ""))
            if day:
                return day
        return _date_from_url(self.url) or _unlabelled_date(before[-200:])

    def date_element(self, near: str) -> dt.date | None:
        """A date in an element named for it (#pubTime, .pubDate …) shown close to the body
        (a header's today's-date widget is not)."""
        near = _squeeze(near)
        for node in self.root.css(DATE_ELEMENT_SELECTOR)[:12]:
            text = node.text()[:60]
            day = _parse_date(text)
            if day and _squeeze(text) in near:
                return day
        return None

    # -- publisher ---------------------------------------------------------------------------

    def publisher(self, fields: dict, before: str) -> str:
        for key in PUBLISHER_FIELDS:
            if fields.get(key):
                return fields[key]
        found = SOURCE_RE.findall(before[-600:])
        for value in reversed(found):
            value = value.strip(" :：|丨")
            if value and not _META_LINE_LABEL.match(value):
                return value
        return next((self.meta[n] for n in META_SOURCE_NAMES if self.meta.get(n)), "")


# ---------------------------------------------------------------------------------------------
# Finding the body container
# ---------------------------------------------------------------------------------------------

def _largest(nodes):
    best, best_len = None, -1
    for node in nodes:
        n = len(_squeeze(node.text()))
        if n > best_len:
            best, best_len = node, n
    return best


def _content_chars(node) -> int:
    """Characters of text outside links (whitespace ignored)."""
    total = len(_squeeze(node.text()))
    links = sum(len(_squeeze(a.text())) for a in node.css("a"))
    return total - links


def _by_selectors(root):
    """The container of a known CMS family holding the most text, if any holds enough."""
    best, best_chars = None, 0
    ids, classes = _compile_selectors(CONTENT_SELECTORS)
    for node in root.css("[id], [class]"):
        if node.id not in ids and not _has_classes(node, classes):
            continue
        chars = _content_chars(node)
        if chars < MIN_BODY_CHARS and not node.css_first("table tr + tr"):
            continue
        if chars > best_chars or best is None:
            best, best_chars = node, chars
    return best


_SELECTOR_CACHE: dict = {}


def _compile_selectors(selectors: tuple) -> tuple[frozenset, tuple]:
    """``#id`` / ``.a`` / ``.a.b`` selectors → (ids, (single classes, multi-class sets)); cached."""
    key = tuple(selectors)
    if key not in _SELECTOR_CACHE:
        ids = frozenset(s[1:] for s in key if s.startswith("#"))
        sets = [frozenset(s.split(".")[1:]) for s in key if s.startswith(".")]
        singles = frozenset(next(iter(c)) for c in sets if len(c) == 1)
        _SELECTOR_CACHE[key] = (ids, (singles, tuple(c for c in sets if len(c) > 1)))
    return _SELECTOR_CACHE[key]


def _has_classes(node, classes: tuple) -> bool:
    value = node.attrs.get("class")
    if not value:
        return False
    singles, multis = classes
    tokens = value.split()
    if not singles.isdisjoint(tokens):
        return True
    return bool(multis) and any(wanted <= set(tokens) for wanted in multis)


def _block_of(node):
    """The nearest ancestor that is not inline, and whether the way up crossed a link."""
    in_link = False
    parent = node.parent
    while parent is not None and parent.tag in INLINE_TAGS:
        in_link = in_link or parent.tag == "a"
        parent = parent.parent
    return parent, in_link


def _by_density(root):
    """Readability-style: score blocks by their text, pass scores to ancestors, pick the best."""
    blocks: dict[int, list] = {}  # mem_id -> [node, text chars, link chars]
    for node in root.traverse(include_text=True):
        if not node.is_text_node:
            continue
        n = len(_squeeze(node.text_content or ""))
        if not n:
            continue
        block, in_link = _block_of(node)
        if block is None:
            continue
        entry = blocks.setdefault(block.mem_id, [block, 0, 0])
        entry[2 if in_link else 1] += n
    scores: dict[int, list] = {}
    for block, chars, link_chars in blocks.values():
        if chars < 8:
            continue
        text = block.text(deep=False)
        points = 1 + text.count("，") + text.count("。") + text.count(",") + chars / 50
        _pass_up(scores, block, points)
    if not scores:
        return None
    ranked = sorted(scores.values(), key=lambda e: e[1], reverse=True)[:6]
    best = max(ranked, key=lambda e: e[1] * (1 - _link_density(e[0])))
    return _widen_to_attachments(best[0])


def _widen_to_attachments(node):
    """Climb to the parent while it adds attachment links and hardly any other text."""
    own = _content_chars(node)
    own_files = _count_attachment_links(node)
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        chars, files = _content_chars(parent), _count_attachment_links(parent)
        if files <= own_files or chars - own > MAX_WIDEN_CHARS:
            break
        node, own, own_files, parent = parent, chars, files, parent.parent
    return node


def _count_attachment_links(node) -> int:
    return sum(1 for a in node.css("a[href]") if _is_attachment(a.attrs.get("href") or ""))


def _pass_up(scores: dict, block, points: float) -> None:
    node, level = block, 0
    if node.tag in ("p", "span", "font", "li", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "br"):
        node = node.parent
    while node is not None and level < 3:
        if node.tag in TABLE_PARTS:
            node = node.parent
            continue
        if node.tag in ("html", "body") or node.tag.startswith("-"):
            break
        entry = scores.setdefault(node.mem_id, [node, 0.0])
        entry[1] += points / (1 + level)
        level += 1
        node = node.parent


def _link_density(node) -> float:
    total = len(_squeeze(node.text())) or 1
    links = sum(len(_squeeze(a.text())) for a in node.css("a"))
    return min(links / total, 1.0)


def _inside(node, container) -> bool:
    target = container.mem_id
    while node is not None:
        if node.mem_id == target:
            return True
        node = node.parent
    return False


def _split_around(page_text: str, container) -> tuple[str, str]:
    """The page's text before and after the body container."""
    if container is None:
        return page_text, ""
    body_text = container.text(separator="\n")
    if not body_text.strip():
        return page_text, ""
    i = page_text.find(body_text)
    if i >= 0:
        return page_text[:i], page_text[i + len(body_text):]
    # Something inside the container was removed since: locate its first and last text.
    head, tail = body_text[:80], body_text[-80:]
    i = page_text.find(head)
    if i < 0:
        return page_text, ""
    j = page_text.find(tail, i)
    return page_text[:i], page_text[j + len(tail):] if j >= 0 else ""


# ---------------------------------------------------------------------------------------------
# 信息公开 metadata block
# ---------------------------------------------------------------------------------------------

def _find_fields(root: LexborNode, page_text: str) -> tuple[dict[str, str], LexborNode | None]:
    """The 信息公开 fields and the element holding them (``None`` if there is none)."""
    if not any(anchor in page_text for anchor in FIELD_ANCHORS):
        return {}, None
    block = _field_block(root)
    if block is None:
        return {}, None
    return _parse_fields(_render_lines(block)), block


def _field_block(root):
    """The smallest element around an anchor label that holds several field labels."""
    for anchor in FIELD_ANCHORS:
        for node in _text_nodes_with(root, anchor):
            block = _grow_field_block(node)
            if block is not None:
                return block
    return None


def _text_nodes_with(root, needle: str, limit: int = 4) -> list:
    found = []
    for node in root.traverse(include_text=True):
        if node.is_text_node and needle in (node.text_content or ""):
            found.append(node)
            if len(found) >= limit:
                break
    return found


def _grow_field_block(node):
    """Climb from the anchor while each step brings in more labels (and stays small)."""
    best, best_count = None, 0
    parent = node.parent
    while parent is not None and parent.tag not in ("body", "html"):
        text = parent.text()
        if len(_squeeze(text)) > MAX_FIELD_BLOCK_CHARS:
            break
        count = len(set(_FIELD_LABEL.findall(text)))
        if count > best_count and count >= MIN_FIELD_LABELS:
            best, best_count = parent, count
        elif best is not None:
            break
        parent = parent.parent
    return best


def _parse_fields(lines: list[str]) -> dict[str, str]:
    """``label：value`` pairs; a label cell followed by a value cell counts too."""
    fields: dict[str, str] = {}
    cells = [c.strip() for line in lines for c in line.split("\t")]
    text = "\t".join(cells)
    for label, value in _FIELD_PAIR.findall(text):
        if label not in fields and (value or label in FIELD_LABELS):
            fields[label] = _clean(value)
    for i, cell in enumerate(cells[:-1]):  # label cell, value cell
        label = cell.rstrip(":： ")
        if label in FIELD_LABELS and not fields.get(label) and not _FIELD_LABEL.match(cells[i + 1]):
            fields[label] = _clean(cells[i + 1])
    return {k: v for k, v in fields.items() if v and (k in FIELD_LABELS or len(k) <= 6)}


# ---------------------------------------------------------------------------------------------
# Cleaning and rendering the body
# ---------------------------------------------------------------------------------------------

def _clean_container(container) -> None:
    """Remove noise widgets and link lists inside the body (never the container itself)."""
    for node in container.css("[id], [class]"):
        if node.mem_id == container.mem_id or node.tag in ("body", "html"):
            continue
        name = ((node.attrs.get("class") or "") + " " + (node.id or "")).lower()
        if any(marker in name for marker in BODY_NOISE_MARKERS) and not _holds_much(node, container):
            node.decompose()
    for node in container.css(LINK_LIST_SELECTOR):
        if node.mem_id != container.mem_id and _is_link_list(node):
            node.decompose()


def _is_link_list(node) -> bool:
    """Mostly links to other pages (related articles, a menu): not the document."""
    links = [a for a in node.css("a[href]") if _is_page_link(a.attrs.get("href") or "")]
    if len(links) < MIN_LINK_LIST_LINKS:
        return False
    total = len(_squeeze(node.text())) or 1
    return sum(len(_squeeze(a.text())) for a in links) / total >= MIN_LINK_LIST_DENSITY


def _is_page_link(href: str) -> bool:
    href = href.strip()
    return bool(href) and not href.startswith(("#", "javascript:", "mailto:")) and not _is_attachment(href)


def _holds_much(node, container) -> bool:
    """A 'noise' match holding most of the body is a mis-named wrapper: keep it."""
    inner = len(_squeeze(node.text()))
    return inner > 200 and inner > len(_squeeze(container.text())) * 0.3


def _render_body(container, title: str) -> str:
    lines = _render_lines(container)
    lines += _signature_after(container)
    lines = [_TAG_FRAGMENT.sub("", line).strip() for line in lines]
    lines = [line for line in lines if line and not _is_noise_line(line)]
    lines = _trim_edges(lines, title)
    return "\n".join(lines)


def _is_noise_line(line: str) -> bool:
    s = _squeeze(line)
    if not s:
        return True
    if _NOISE_LINE.match(s):
        return True
    if len(s) < 120:  # 来源：… 发布时间：… 点击数：
        strong = set(_META_LINE_LABEL.findall(line))
        if strong and len(strong) + len(set(_WEAK_META_LINE_LABEL.findall(line))) >= 2:
            return True
    if len(s) < 300:  # a flattened 信息公开 block
        labels = set(_FIELD_LABEL_ALONE.findall(line))
        if len(labels) >= MIN_FIELD_LABELS and labels.intersection(FIELD_ANCHORS):
            return True
    return False


def _trim_edges(lines: list[str], title: str) -> list[str]:
    """Drop the repeated title at the top and footer / single meta-label lines at both ends."""
    t = _squeeze(title)
    while lines and (t and _squeeze(lines[0]) == t or _is_edge_noise(lines[0])):
        lines = lines[1:]
    while lines and (_is_edge_noise(lines[-1]) or _is_footer(lines[-1])):
        lines = lines[:-1]
    return lines


def _is_edge_noise(line: str) -> bool:
    s = _squeeze(line)
    if len(s) >= 60 or SIGNATURE_DATE_RE.search(s):
        return False
    return bool(_META_LINE_LABEL.match(s) or _WEAK_META_LINE_LABEL.match(s))


def _is_footer(line: str) -> bool:
    if len(line) >= 200:
        return False
    if any(marker in line for marker in FOOTER_MARKERS):
        return True
    return sum(marker in line for marker in WEAK_FOOTER_MARKERS) >= 2


def _signature_after(container) -> list[str]:
    """Short signature/date lines placed right after the container (outside it)."""
    found: list[str] = []
    node = container.next
    checked = 0
    while node is not None and checked < SIGNATURE_SIBLINGS:
        if node.is_text_node:
            text = _clean(node.text_content or "")
        elif node.is_element_node:
            text = "" if node.css_first("a, img, table") else _clean(node.text(separator=" "))
            text = text or "\x00"  # an element that is not a short line ends the search
        else:
            text = ""
        if text:
            checked += 1
            if len(text) > 60 or text == "\x00" or _is_noise_line(text) or _is_footer(text):
                break
            found.append(text)
            if SIGNATURE_DATE_RE.search(text):
                return found
        node = node.next
    return []


def _render_lines(node, skeleton: set | None = None) -> list[str]:
    """The text of ``node`` as lines: blocks and ``<br>`` break lines, table rows are lines."""
    if skeleton is None:
        skeleton = _skeleton(node)
    if node.tag in ("tbody", "thead", "tfoot", "tr") or node.tag == "table" and _is_data_table(node):
        return _table_rows(node, skeleton)
    lines: list[str] = []
    buf: list[str] = []

    def flush() -> None:
        if buf:
            line = _clean("".join(buf))
            if line:
                lines.append(line)
            buf.clear()

    stack: list = [node]
    while stack:
        item = stack.pop()
        if item is None:  # end of a block
            flush()
            continue
        tag = item.tag
        if tag == "-text":
            buf.append(item.text_content or "")
        elif tag.startswith("-"):
            continue
        elif tag == "br" or tag == "hr":
            flush()
        elif item.mem_id not in skeleton:  # nothing inside breaks lines: Lexbor gives the text
            if tag in BLOCK_TAGS or tag in ("td", "th"):
                flush()
                buf.append(item.text())
                flush()
            else:
                buf.append(item.text())
        elif tag == "table" and item is not node and _is_data_table(item):
            flush()
            lines.extend(_table_rows(item, skeleton))
        else:
            if tag in BLOCK_TAGS or tag in ("td", "th") or item is node:
                flush()
                stack.append(None)
            stack.extend(reversed(list(item.iter(include_text=True))))
    flush()
    return lines


def _skeleton(node) -> set:
    """mem_ids of the elements under ``node`` (and itself) that hold a line-breaking element."""
    marked: set = set()
    top = node.mem_id
    for inner in node.css(_LINE_BREAKING):
        if inner.mem_id == top:  # css() matches the node itself too
            continue
        parent = inner.parent
        while parent is not None and parent.mem_id not in marked:
            marked.add(parent.mem_id)
            if parent.mem_id == top:
                break
            parent = parent.parent
    marked.add(top)
    return marked


def _is_data_table(table) -> bool:
    """A table of rows and cells, not a layout grid wrapping the page or one column of text."""
    if len(table.css("table")) > 1:  # Lexbor's css() matches the node itself too
        return False
    rows = table.css("tr")
    return any(len(row.css("td, th")) > 1 for row in rows[:20])


def _table_rows(table, skeleton: set) -> list[str]:
    out = []
    for row in [table] if table.tag == "tr" else table.css("tr"):
        cells = [" ".join(_render_lines(cell, skeleton)) for cell in row.css("td, th")]
        if any(cells):
            out.append("\t".join(cells))
    return out


# ---------------------------------------------------------------------------------------------
# Title
# ---------------------------------------------------------------------------------------------

def _is_site_name(text: str, meta: dict) -> bool:
    return text in (meta.get("sitename", ""), meta.get("columnname", ""))


def _heading_in_title(nodes, page_title: str) -> str:
    """The longest heading on the page that ``<title>`` contains (not a mere column name)."""
    key = _squeeze(page_title)
    if not key:
        return ""
    short = len(_squeeze(_strip_site_suffix(page_title, {})))
    parts = {_squeeze(part) for part in TITLE_SUFFIX_SPLIT.split(page_title)}
    best = ""
    for node in nodes:
        text = _clean(node.text(separator=" "))
        s = _squeeze(text)
        if len(s) < 4 or len(s) > 200 or any(s.startswith(w) for w in NOT_TITLES):
            continue
        if len(s) < 8 and len(s) < 0.5 * short or len(s) <= len(_squeeze(best)):
            continue
        if key.startswith(s) or s in parts:  # the start of <title>, or one whole part of it
            best = text
    return best


def _title_opening_body(page_title: str, container, meta: dict) -> str:
    """``<title>`` without the site name, when the body starts with it (the heading is inside)."""
    if container is None:
        return ""
    candidate = _strip_site_suffix(page_title, meta)
    s = _squeeze(candidate)
    if len(s) < 6 or _is_site_name(candidate, meta):
        return ""
    return candidate if 0 <= _squeeze(container.text()[:400]).find(s) <= 20 else ""


def _heading_before(nodes, container) -> str:
    """The last heading-like element before the body container (document order)."""
    if container is None:
        return ""
    best = ""
    for node in nodes:
        if _inside(container, node) or _inside(node, container):
            continue
        text = _clean(node.text(separator=" "))
        s = _squeeze(text)
        if not 6 <= len(s) <= 120 or any(s.startswith(w) for w in NOT_TITLES):
            continue
        if _LABELLED_DATE.search(text) or ":" in s or "：" in s:
            continue
        if (node.tag in ("h1", "h2", "h3", "h4", "h5") or len(s) >= 8) and _precedes(node, container):
            best = text
    return best


def _path(node) -> list:
    path = []
    while node is not None:
        path.append(node)
        node = node.parent
    return path[::-1]


def _precedes(a, b) -> bool:
    """Whether element ``a`` comes before element ``b`` in document order (neither inside the other)."""
    pa, pb = _path(a), _path(b)
    i = 0
    while i < min(len(pa), len(pb)) and pa[i].mem_id == pb[i].mem_id:
        i += 1
    if i >= len(pa) or i >= len(pb):
        return False
    target, sib = pb[i].mem_id, pa[i].next
    while sib is not None:
        if sib.mem_id == target:
            return True
        sib = sib.next
    return False


def _title_line(page_title: str, page_text: str) -> str:
    """The longest start of ``<title>`` (cut at a separator) shown as a line of the page."""
    lines = {_squeeze(line) for line in page_text.split("\n") if 8 <= len(line.strip()) <= 200}
    cuts = [m.start() for m in _TITLE_CUT.finditer(page_title)] + [len(page_title)]
    for cut in sorted(set(cuts), reverse=True):
        head = page_title[:cut].strip()
        if len(_squeeze(head)) >= 8 and _squeeze(head) in lines:
            return head
    return ""


def _strip_site_suffix(page_title: str, meta: dict) -> str:
    parts = [p for p in TITLE_SUFFIX_SPLIT.split(page_title) if p.strip()]
    if not parts:
        return page_title
    site = meta.get("sitename", "")
    parts = [p for p in parts if p != site] or parts
    return max(parts, key=len) if len(parts[0]) < 6 else parts[0]


# ---------------------------------------------------------------------------------------------
# Dates
# ---------------------------------------------------------------------------------------------

def _to_date(y: str, m: str, d: str) -> dt.date | None:
    try:
        day = dt.date(int(y), int(m), int(d))
    except (ValueError, OverflowError):
        return None
    return day if 1949 <= day.year <= dt.date.today().year + 1 else None


def _parse_date(text: str) -> dt.date | None:
    m = _DATE_RE.search(text or "")
    return _to_date(*m.groups()) if m else None


def _labelled_date(text: str, *, last: bool, allow_loose: bool = True) -> dt.date | None:
    """A date after 发布日期/发布时间 (or a bare 日期/时间 label); never 成文日期 and the like."""
    strong, loose = [], []
    for m in _LABELLED_DATE.finditer(text):
        label = m.group(1)
        if any(bad in label for bad in NOT_PUBLISH_DATE):
            continue
        day = _to_date(*m.group(2, 3, 4))
        if day is None:
            continue
        if any(label.endswith(good) for good in PUBLISH_DATE_LABELS):
            strong.append(day)
        elif label in LOOSE_DATE_LABELS:
            loose.append(day)
    for found in (strong, loose) if allow_loose else (strong,):
        if found:
            return found[-1] if last else found[0]
    return None


def _unlabelled_date(text: str) -> dt.date | None:
    found = _DATE_RE.findall(text)
    for groups in reversed(found):
        day = _to_date(*groups)
        if day:
            return day
    return None


def _date_from_url(url: str) -> dt.date | None:
    path = _url_path(url)
    for pattern in _URL_DATES:
        m = pattern.search(path)
        if m:
            day = _to_date(*m.groups())
            if day:
                return day
    return None


# ---------------------------------------------------------------------------------------------
# Attachments
# ---------------------------------------------------------------------------------------------

def _attachments(container, base: str) -> tuple[Attachment, ...]:
    """Links to documents/archives inside the body or in the blocks just after it."""
    found: dict[str, str] = {}
    scopes = [container] + [b for b in _following_blocks(container) if not _is_noise_block(b)]
    for scope in scopes:
        for a in scope.css("a[href]"):
            href = (a.attributes.get("href") or "").strip()
            if not _is_attachment(href):
                continue
            url = _absolute(base, href)
            text = _clean(a.text()) or _clean(a.attributes.get("title") or "")
            if len(text) > len(found.get(url, "")):  # the fullest name of the file wins
                found[url] = text
            found.setdefault(url, "")
    return tuple(Attachment(url=u, text=t or u.rsplit("/", 1)[-1]) for u, t in found.items())


def _is_noise_block(node) -> bool:
    """A related-links list, a share bar … (by its id/class or by its first line)."""
    name = ((node.attrs.get("class") or "") + " " + (node.id or "")).lower()
    if any(marker in name for marker in BODY_NOISE_MARKERS):
        return True
    first = _squeeze(node.text()[:40])
    return first.startswith(RELATED_LABELS)


def _following_blocks(container, per_level: int = 3, levels: int = 2) -> list:
    out = []
    node = container
    for _ in range(levels):
        sib, count = node.next, 0
        while sib is not None and count < per_level:
            if sib.is_element_node:
                out.append(sib)
                count += 1
            sib = sib.next
        node = node.parent
        if node is None or node.tag in ("body", "html"):
            break
    return out


def _is_attachment(href: str) -> bool:
    if not href or href.startswith(("javascript:", "mailto:", "#")):
        return False
    path = _url_path(href)
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return ext in ATTACHMENT_EXTENSIONS


def _url_path(url: str) -> str:
    """The path of a URL; a malformed URL (bad IPv6 host, odd netloc) gives its text before ?/#."""
    if not url:
        return ""
    try:
        return urlsplit(url).path
    except ValueError:
        return url.split("?", 1)[0].split("#", 1)[0]


def _absolute(base: str, href: str) -> str:
    try:
        return urljoin(base, href) if base else href
    except ValueError:
        return href
