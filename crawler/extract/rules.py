"""The rules of extraction as data: selectors, markers, labels and limits, named per page family.

Functions elsewhere in the package read these tables; none of them hold literals of their own.
Patterns built from the tables are compiled here, once, at import.
"""

from __future__ import annotations

import re

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
    "公开范围", "公开形式", "公开时限", "关键词", "名称", "标题", "所属机构", "信息来源", "生成日期",
)
#: Labels strong enough to anchor the search for the metadata block.
FIELD_ANCHORS = ("索引号", "发布机构", "发文机关", "成文日期", "主题分类", "发文字号", "有效性")
#: How many distinct labels make a block the metadata block.
MIN_FIELD_LABELS = 3
#: A metadata block is small; larger ancestors are the page.
MAX_FIELD_BLOCK_CHARS = 1200
#: Growing past the first block with enough labels, each label an ancestor adds may come with at
#: most this much other text (more is the page around the block: a heading, an info line, a body).
MAX_CHARS_PER_NEW_LABEL = 80

#: Date labels, in order of trust. 成文日期/发文日期 (when the document was written or issued) and
#: the like are never the publish date; they stay in the fields.
PUBLISH_DATE_LABELS = ("发布日期", "发布时间", "发表日期", "发表时间", "公开日期", "公开时间",
                       "发稿时间", "发稿日期", "上网时间", "上网日期", "刊发时间", "公告时间")
LOOSE_DATE_LABELS = ("日期", "时间", "更新时间", "更新日期")
NOT_PUBLISH_DATE = ("成文", "发文", "印发", "生效", "失效", "废止", "施行", "开标", "截止", "报名", "开始",
                    "结束", "签署", "通过", "实施", "会议", "活动", "申请", "受理")
#: Fields holding the publish date, in order of trust.
PUBLISH_DATE_FIELDS = ("发布日期", "公开日期", "发布时间", "生成日期")
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
TITLE_CUT = re.compile(r"\s*(?:__|_|-|--|—|\||｜|·|\s)")
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
#: What follows every label in those lines and in a flattened 信息公开 block: a line without one
#: is neither.
LABEL_COLONS = (":", "：")
#: Footer lines: dropped only at the end of the body.
FOOTER_MARKERS = ("版权所有", "ICP备", "ICP证", "网站标识码", "公网安备", "Copyright", "©",
                  "Produced By", "建议使用", "分辨率")
#: Weaker footer words: a closing line needs two of them (a notice may end with 主办单位：…).
WEAK_FOOTER_MARKERS = ("主办单位", "承办单位", "技术支持", "运行维护", "联系我们", "网站地图", "主办：",
                       "承办：", "地址：", "邮编", "关于我们", "隐私")

#: Headings of related-content blocks (never the document, never its attachments).
RELATED_LABELS = ("相关链接", "相关文章", "相关新闻", "相关稿件", "关联稿件", "相关阅读", "相关公告",
                  "相关解读", "相关信息", "相关文件", "推荐阅读", "热点新闻", "新闻排行", "上一篇", "下一篇")

#: A line opening a related-content block (one of these labels, after spaces and a bracket at most):
#: the page's text after it is other pages' (their dates are never this page's). The labels are
#: searched first (a pattern opening with a newline is tried at every line).
RELATED_LABEL = re.compile("|".join(RELATED_LABELS))
RELATED_LINE_OPENER = re.compile(r"[^\S\n]*[【\[]?")

#: Link targets that are attachments (documents and archives, not images).
ATTACHMENT_EXTENSIONS = frozenset((
    "pdf", "doc", "docx", "wps", "xls", "xlsx", "et", "ofd", "zip", "rar", "7z", "txt", "csv",
    "ppt", "pptx", "dps", "rtf", "ods", "odt",
))
#: The extension at the end of a file name, before an optional size in brackets: 预算.pdf（120KB）.
FILE_NAME_END = re.compile(r"\.([A-Za-z0-9]{2,4})\s*(?:[(（\[【][^()（）]{0,20}[)）\]】])?\s*$")

#: A line that may close a document after its container: a signature or a date.
SIGNATURE_DATE_RE = re.compile(r"(?:19|20)\d\d\s*年\s*\d{1,2}\s*月\s*\d{1,2}\s*日\s*$")
#: At most this many sibling elements after the container are checked for a signature.
SIGNATURE_SIBLINGS = 3

# Patterns built from the tables above.
#: Elements that break lines: a node holding one is rendered child by child.
LINE_BREAKING = BLOCK_TAGS | {"br", "td", "th"}
NOISE_LINE = re.compile("(?:" + "|".join(NOISE_LINE_PATTERNS) + ")$")
_NOT_AFTER_CJK = r"(?<![\u4e00-\u9fff])"
META_LINE_LABEL = re.compile(_NOT_AFTER_CJK + "(" + "|".join(sorted(META_LINE_LABELS, key=len, reverse=True))
                              + r")\s*[:：]")
WEAK_META_LINE_LABEL = re.compile(_NOT_AFTER_CJK + "(" + "|".join(
    sorted(WEAK_META_LINE_LABELS, key=len, reverse=True)) + r")\s*[:：]")
FIELD_LABEL = re.compile("(" + "|".join(sorted(FIELD_LABELS, key=len, reverse=True))
                          + r")\s*[:：]")
FIELD_LABEL_ALONE = re.compile(_NOT_AFTER_CJK + FIELD_LABEL.pattern)
_KNOWN_LABEL = "|".join(sorted(FIELD_LABELS, key=len, reverse=True))
#: Any field label: where labels are (a pattern of literals is found quickly).
ANY_FIELD_LABEL = re.compile(_KNOWN_LABEL)
#: A label standing alone as a line or cell, without a colon (a table's label cells): matched at a
#: label that only spaces precede on its line; spaces, a colon and spaces may follow it to the end
#: of its line. (``^\s*(label)\s*[:：]?\s*$`` in one multiline search, as before, tried every
#: position, read a run of blank lines again from each of its lines, and retried the spaces after
#: a label once for each of them: quadratic, seconds for a few thousand.)
FIELD_LABEL_CELL = re.compile(r"(" + _KNOWN_LABEL + r")[^\S\n]*+(?:[:：][^\S\n]*+)?(?=\n|\Z)")
FIELD_PAIR = re.compile(r"(" + _KNOWN_LABEL + r"|(?:^|(?<=[\t\n ]))[\u4e00-\u9fff]{2,8})\s*[:：]\s*"
                         r"([^\t\n]*?)\s*(?=[\t\n]|(?:" + _KNOWN_LABEL + r")\s*[:：]|$)", re.MULTILINE)
_DATE = r"((?:19|20)\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)"
DATE_RE = re.compile(_DATE)
#: A date label: up to :data:`DATE_LABEL_LEAD` Chinese characters, then one of these.
DATE_LABEL_ENDS = ("日期", "时间")
DATE_LABEL_LEAD = 4
#: (Each run of spaces read once: ``\s*[:：]?\s*[\[(（]?\s*`` split a run of spaces three ways,
#: cubic in its length: 400 spaces after 发布日期 took 0.13 s.)
LABELLED_DATE = re.compile(r"([\u4e00-\u9fff]{0," + str(DATE_LABEL_LEAD) + "}(?:" + "|".join(DATE_LABEL_ENDS)
                           + r"))\s*+(?:[:：]\s*+)?(?:[\[(（]\s*+)?" + _DATE)
#: Where date labels end: searched first, as a pattern opening with a literal is found quickly (one
#: opening with an optional run, as LABELLED_DATE does, is tried at every position).
DATE_LABEL_END = re.compile("|".join(DATE_LABEL_ENDS))
URL_DATES = (re.compile(r"[/_]t?((?:19|20)\d\d)(\d\d)(\d\d)_\d+"),
              re.compile(r"/((?:19|20)\d\d)-(\d\d)-(\d\d)/"),
              re.compile(r"/((?:19|20)\d\d)(\d\d)(\d\d)/"),
              re.compile(r"/art/((?:19|20)\d\d)/(\d{1,2})/(\d{1,2})/"))
PAGE_URL = (re.compile(r"<!--\s*saved from url=\(\d+\)(https?://\S+?)\s*-->", re.IGNORECASE),
             re.compile(r"<!--\s*Mirrored from (\S+?) by HTTrack", re.IGNORECASE),
             re.compile(r"<!--\s*(https?://\S+?)\s*-->"))
BAD_CHAR = re.compile("[\x00-\x08\x0b\x0e-\x1f\ufffd]")
TAG_FRAGMENT = re.compile(r"(?:</?|/)(?:span|p|div|font|strong|b|em|br|a|td|tr)\s*/?>", re.IGNORECASE)

# Bounded parsing. Parsers and tree walks slow down with nesting depth (100,000 nested <div>s took
# minutes), while real pages nest at most ~30 deep: before parsing, tags nested deeper than this are
# dropped (their text stays, in the enclosing element).
MAX_DEPTH = 256
#: Elements that never enclose anything.
VOID_TAGS = frozenset((
    "area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link", "meta", "param",
    "source", "track", "wbr", "frame", "basefont", "bgsound", "image", "isindex",
))
#: Elements whose start tag closes an open one of their kind (or that parsers never nest), so an
#: unclosed one does not deepen the tree: not counted, or sloppy pages would count ever deeper.
SELF_CLOSING_SIBLINGS = frozenset((
    "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "caption", "rb", "rp", "rt", "rtc", "a", "nobr", "form", "html", "head", "body",
))
#: ``<x/>`` opens an element anyway when x is an HTML element (SVG and MathML ones are closed).
HTML_CONTAINERS = BLOCK_TAGS | INLINE_TAGS | {"table", "td", "th", "tr", "font", "span"}
_NOT_NESTING = "|".join(sorted(VOID_TAGS | SELF_CLOSING_SIBLINGS, key=len, reverse=True))
#: The quick check: a page with no run of this many start tags in a row (no end tag between) is
#: shallow enough; real pages have runs of at most ~35.
QUICK_RUN = MAX_DEPTH // 2
#: Comments, raw-text elements (skipped whole) and the start and end tags of elements that nest,
#: in one linear scan (an unclosed comment, raw-text element or tag runs to the end of the page).
#: Comments and raw text end at their first ``-->`` / end tag, found by runs of other characters
#: (possessive, so nothing is retried): twice as fast as ``.*?``, which steps one character at a time.
TAG_TOKEN = re.compile(
    r"<(?:!--(?:[^-]++|-(?!->))*+(?:-->|\Z)"
    r"|(script|style|textarea|title|xmp|iframe|noembed|noframes)\b(?:[^<]++|<(?!/\1\s*>))*+(?:</\1\s*>|\Z)"
    r"|(/?)(?!(?:" + _NOT_NESTING + r")[\s/>])([a-zA-Z][^\s/>]*)([^>]*)(?:>|\Z))",
    re.DOTALL | re.IGNORECASE)

# Text density (readability style).
#: Blocks with less text than this score nothing.
MIN_DENSITY_CHARS = 8
#: A block's points go up to this many ancestors (halved, thirded …).
SCORE_LEVELS = 3
#: The best-scoring candidates weighed again by their link density.
TOP_CANDIDATES = 6
#: A candidate after the document's heading replaces a better one before it (a sidebar) when it
#: scores at least this share of it.
MIN_RIVAL_SHARE = 0.25
