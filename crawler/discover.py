"""Discovery: list page bytes → :class:`Listing` (the documents it lists, the further list pages).

A pure function: no network, no database, never raises.

How the list is found, without per-site selectors: every link's ancestors propose *candidate lists*
— a parent element and the same-tag children (``li``, ``tr``, ``dl``, ``div``, ``table`` …) that hold
links. Each child is one item and contributes one *main link* (its best link not inside a nested
list, so per-item 相关解读 popboxes don't count). A candidate's score adds up its items: document-like
URL shapes, long titles and dates score, column-index URLs and short menu words cost, and lists
inside header/nav/footer/sidebar containers are discounted. The best candidate wins, joined by
identical sibling containers (a list split into several ``<ul>``). Markup the HTML parser cannot
see is parsed as well: Hanweb ``<datastore>`` CDATA records and HTML comments holding links.

Further list pages come from pager links (下一页/尾页/numbers), pager anchors that carry their
target in ``tagname``/``onclick`` instead of ``href``, the TRS ``createPageHTML`` script, the Hanweb
jpage ``totalRecord``/``perPage`` script and runs of numbered pages between the lowest and highest
one seen.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawler.encoding import decode_html
from crawler.text import clean
from crawler.urls import Scope, canonical, resolve

__all__ = ["Listing", "discover"]


@dataclass(frozen=True)
class Listing:
    """What a column list page points to."""

    #: Absolute URLs of the listed documents, in page order, each once, on the allowed hosts only.
    documents: tuple[str, ...] = ()
    #: Absolute URLs of further list pages (下一页, numbered pager links, TRS createPageHTML pages).
    next_pages: tuple[str, ...] = ()
    #: Link text of each document URL, as listed (useful when a page has no title of its own).
    titles: dict[str, str] = field(default_factory=dict)
    #: Why the page could not be read, when it could not (like ``Document.problem``); empty if it was.
    problem: str = ""


# ---------------------------------------------------------------------------------------------
# Rules, as data
# ---------------------------------------------------------------------------------------------


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


#: Link texts that step to the following list page (compared after _norm_word: no spaces/arrows).
NEXT_WORDS = _words("下一页 下页 后一页 后页 下一頁 下頁 next nextpage > >> » ›")
#: Other pager link texts (accepted only when the URL is pager-shaped).
OTHER_PAGER_WORDS = _words(
    "上一页 上页 前一页 前页 上一頁 首页 第一页 尾页 末页 最后一页 最末页 last first prev previous < << « ‹"
)
#: "More" links under a list box: never documents.
MORE_WORDS = _words("更多 more 查看更多 更多内容 更多信息")
#: Pager link text: a bare page number, 第N页 or [N].
PAGE_NUMBER_TEXT = re.compile(r"^(?:第)?\d{1,5}(?:页)?$")
#: Brackets and spaces stripped from link texts before matching the word lists.
TEXT_TRIM = re.compile(r"[\s\u3000\xa0\[\]【】()（）|·•+]+")
#: Arrows stripped too when a word remains (下一页>> → 下一页, but >> stays >>).
ARROWS = re.compile(r"[<>«»‹›]+")

#: Tags whose content is never a document list.
NAV_TAGS = frozenset({"header", "nav", "footer", "aside"})
#: class/id substrings of navigation containers (strong discount).
NAV_SUBSTRINGS = _words(
    "header footer nav menu breadcrumb crumb copyright banner topbar friendlink yqlj daohang position"
    " location weizhi dqwz sitemap toolbar"
)
#: class/id tokens (split on - _ and spaces) of navigation-ish containers (strong discount).
NAV_TOKENS = _words("top head foot bottom dh path links login")
#: class/id substrings/tokens of side columns (mild discount: some sites put the list in one).
SIDE_SUBSTRINGS = _words("sidebar side aside")
SIDE_TOKENS = _words("left lside leftside")
#: Score factors for lists inside navigation / side containers.
NAV_FACTOR = 0.15
SIDE_FACTOR = 0.6

#: Document URL shapes of the CMS families met on government sites.
DOC_URL_SHAPES = tuple(
    re.compile(p, re.IGNORECASE)
    for p in (
        r"/t\d{8}_\d+\.s?html?$",  # TRS WCM tYYYYMMDD_N.html
        r"/(?:19|20)\d{4}/[0-9A-Za-z_-]{5,}\.s?html?$",  # /YYYYMM/<id or 32hex>.shtml (Ucap, Gansu)
        r"/(?:19|20)\d{6}/[0-9A-Za-z_-]{5,}\.s?html?$",  # /YYYYMMDD/<32hex>.html (Shanghai)
        r"/(?:19|20)\d\d-\d\d-\d\d/\d+\.s?html?$",  # EmpireCMS /YYYY-MM-DD/<id>.html
        r"/art_\d+_\d+\.html?$",  # Hanweb art_<col>_<id>.html
        r"/art/(?:19|20)\d\d/\d{1,2}/\d{1,2}/",  # Hanweb /art/YYYY/M/D/
        r"/art_[0-9a-f]{16,}\.html?$",  # Hanweb new art_<hex>.html
        r"content_\d+\.s?html?$",  # www.gov.cn content_N.htm
        r"/post_\d+\.s?html?$",  # Guangdong post_N.html
        r"/\d{7,}/index\.s?html?$",  # huilan EasySite /<id>/index.html
        r"/c\d+/content\.s?html?$",  # CSRC /c<id>/content.shtml
        r"/(?:19|20)\d\d/\d{1,2}/\d{1,2}/[^/]+\.\w+$",  # /YYYY/M/D/<name>
        r"/(?:19|20)\d\d(?:0[1-9]|1[0-2])\d\d/\w+\.s?html?$",
        r"/(?:detail|details|content|article|info|news|view|show)[_-]?\d+\.\w+$",
        r"[?&](?:id|articleid|infoid|newsid|docid|contentid|aid|artid|itemid)=\w+",
        r"/\d{5,}\.s?html?$",  # /<numeric id>.html
    )
)
#: Column (栏目) index URL shapes: folders, index/list pages, digit-free file names.
INDEX_FILE = re.compile(
    r"^(?:index|default|list|main|home)(?:[_-]\d+)?\.\w+$|^[A-Za-z_-]+\.s?html?$", re.IGNORECASE
)

#: Dates as lists print them: 2024-03-06, 2024/03/06, 2024年3月6日, 2024.03.06, [03-06].
DATE_SHAPES = re.compile(
    r"(?:19|20)\d\d\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}|[\[【(（]\s*\d{1,2}[-/.]\d{1,2}\s*[\]】)）]"
)
#: Page-number query parameters.
PAGE_PARAM = re.compile(
    r"^(?:page|pagenum|pageno|pageindex|pagenumber|p|pn|pg|curpage|currentpage|cpage|start|offset)$",
    re.IGNORECASE,
)
#: Query parameters counting records, not pages: runs of them step by the gap seen (0, 20, 40 …).
OFFSET_PARAM = re.compile(r"^(?:start|offset|startrecord|begin)$", re.IGNORECASE)
#: A numbered list page file: index_2.html, 17081-2.html, zwgklist_3.shtml, 2.html.
NUMBERED_FILE = re.compile(r"^(?P<stem>[\w.]*?[_-])?(?P<n>\d{1,6})(?P<ext>\.\w+)$")
#: A URL inside an onclick handler.
ONCLICK_URL = re.compile(
    r"""['"]((?:https?://|/|\./|\.\./)[^'"\s]*?\.(?:s?html?|jsp|aspx?|php)(?:\?[^'"\s]*)?)['"]"""
)

#: A tagname attribute holding a page address (huilan EasySite), not a placeholder like [NEXTPAGE].
TAGNAME_URL = re.compile(
    r"^\s*(?:https?://|/|\./|\.\./)[^\s\[\]]+$|^\s*[\w.-]+\.s?html?(?:\?\S*)?$", re.IGNORECASE
)
#: TRS pager script, (total, current, "index", "html"); current is 0-based, page 0 is index.html.
TRS_PAGER = re.compile(
    r"""createPageHTML\(\s*(\w+)\s*,\s*(\w+)\s*,\s*["']([\w.-]+)["']\s*,\s*["'](\w+)["']\s*\)"""
)
#: Sohu/TRS variant ('page_div', total, current, 'list', 'shtml', records); current is 1-based.
TRS_PAGER_DIV = re.compile(
    r"""createPageHTML\(\s*["'][^"']*["']\s*,\s*(\w+)\s*,\s*(\w+)\s*,\s*["']([\w.-]+)["']\s*,"""
    r"""\s*["'](\w+)["']\s*(?:,\s*\w+\s*)?\)"""
)
JS_VAR = r"""(?:var\s+|\b){name}\s*=\s*["']?(\d+)"""
#: Hanweb jpage: the CDATA records, and the numbers its script pages with.
HANWEB_STORE = re.compile(r"<datastore\b.*?(?:</datastore>|$)", re.DOTALL | re.IGNORECASE)
HANWEB_RECORD = re.compile(r"<record>\s*<!\[CDATA\[(.*?)\]\]>\s*</record>", re.DOTALL | re.IGNORECASE)
CDATA_BLOCK = re.compile(r"<!\[CDATA\[(.*?)\]\]>", re.DOTALL)
HANWEB_TOTAL = re.compile(r"""totalRecord\s*[:=]\s*["']?(\d+)""", re.IGNORECASE)
HANWEB_PER_PAGE = re.compile(r"""perPage\s*[:=]\s*["']?(\d+)""", re.IGNORECASE)
HANWEB_UNIT = re.compile(
    r"""unitid\s*[:=]\s*["']?(\d+)|#(\d+)["']\s*\)\s*\.jpage|param_(\d+)""", re.IGNORECASE
)
#: How far from ``totalRecord`` the same jpage call's perPage/unitid may be.
HANWEB_WINDOW = 1500

#: Score for an item showing a date; factor for a "list" of one item.
DATE_BONUS = 1.5
SINGLE_ITEM_FACTOR = 0.5
#: Score for a link below the list page's own folder (a column's documents usually live there).
FOLDER_BONUS = 1.5
#: Tags that make a nested list inside an item (its links are not the item's main link).
NESTED_LIST_TAGS = frozenset({"ul", "ol", "dl", "table"})
#: How far above a link its item may be (pbc: a → font → td → tr → tbody → table).
MAX_ITEM_DEPTH = 7
#: Most pages generated from one numbered run or pager script.
MAX_GENERATED_PAGES = 5000


# ---------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------


def discover(
    raw: bytes,
    url: str,
    *,
    allowed_hosts: Collection[str] = (),
    list_selector: str = "",
    link_pattern: str = "",
    exclude_pattern: str = "",
    encoding: str | None = None,
) -> Listing:
    """Find the documents and further pages a list page links to.

    ``allowed_hosts`` (host names or origins, see :class:`crawler.urls.Scope`) defaults to the
    page's own origin; ``list_selector`` (CSS) pins the list's
    container; ``link_pattern``/``exclude_pattern`` are regular expressions document URLs must /
    must not match; ``encoding`` is the HTTP charset, if any.
    """
    try:
        return _discover(raw, url, allowed_hosts, list_selector, link_pattern, exclude_pattern, encoding)
    except Exception as e:  # noqa: BLE001 - never raise: a bad page is an empty listing that says why
        return Listing(problem=f"discovery failed: {e!r}")


@dataclass
class _Ctx:
    """What every step needs to know about the page."""

    url: str
    folder: str
    scope: Scope
    include: re.Pattern[str] | None
    exclude: re.Pattern[str] | None


def _discover(
    raw: bytes,
    url: str,
    allowed_hosts: Collection[str],
    list_selector: str,
    link_pattern: str,
    exclude_pattern: str,
    encoding: str | None,
) -> Listing:
    if not isinstance(raw, (bytes, bytearray)) or not raw or not isinstance(url, str):
        return Listing()
    url = canonical(url)
    if urlsplit(url).scheme not in ("http", "https"):
        return Listing()
    text, _ = decode_html(bytes(raw), encoding)
    text = text.replace("\x00", "")
    tree = LexborHTMLParser(text)
    base = _base_url(tree, url)
    scope = Scope(h for h in allowed_hosts if isinstance(h, str)) or Scope([url])
    ctx = _Ctx(base, _column_folder(url), scope, _regex(link_pattern), _regex(exclude_pattern))
    pages = _next_pages(tree, text, url, base, scope)
    skip = set(pages) | {url, _page_key(url)}
    items = _documents(tree, text, ctx, list_selector, skip)
    docs: dict[str, str] = {}
    for link, title in items:
        if link not in docs and link not in skip and _page_key(link) not in skip:
            docs[link] = title
    return Listing(tuple(docs), tuple(pages), docs)


def _column_folder(url: str) -> str:
    """``https://host/a/b/`` of a list page ``https://host/a/b/index_2.html`` (nothing for the site root)."""
    parts = urlsplit(url)
    folder = (parts.path or "/")[: (parts.path or "/").rfind("/") + 1]
    return urlunsplit((parts.scheme, (parts.netloc or "").lower(), folder, "", "")) if folder != "/" else ""


def _regex(pattern: str) -> re.Pattern[str] | None:
    try:
        return re.compile(pattern) if pattern else None
    except (re.error, TypeError):
        return None


def _base_url(tree: LexborHTMLParser, url: str) -> str:
    node = tree.css_first("base[href]")
    href = (node.attributes.get("href") or "").strip() if node is not None else ""
    joined = urljoin(url, href) if href else url
    return joined if urlsplit(joined).scheme in ("http", "https") else url


# ---------------------------------------------------------------------------------------------
# Links
# ---------------------------------------------------------------------------------------------


def _clean_text(node: LexborNode) -> str:
    return clean(node.text(separator=" ") or "")


def _norm_word(text: str) -> str:
    word = TEXT_TRIM.sub("", text).lower()
    return ARROWS.sub("", word) or word


def _page_key(url: str) -> str:
    """``…/folder/`` and ``…/folder/index.html`` are the same page."""
    parts = urlsplit(url)
    path = re.sub(r"/(?:index|default)\.s?html?$", "/", parts.path, flags=re.IGNORECASE)
    return urlunsplit((parts.scheme, (parts.netloc or "").lower(), path or "/", parts.query, ""))


def _url_score(url: str) -> float:
    """Document-shaped URLs score, column index URLs cost."""
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    if any(shape.search(target) for shape in DOC_URL_SHAPES):
        return 3.0
    name = parts.path.rsplit("/", 1)[-1]
    if not name or INDEX_FILE.match(name) or parts.path in ("", "/"):
        return -3.0
    return 0.0


def _text_score(text: str) -> float:
    size = len(text.replace(" ", ""))
    if size >= 10:
        return 2.0
    if size >= 6:
        return 1.0
    return -1.5 if size <= 4 else 0.0


# ---------------------------------------------------------------------------------------------
# Documents: candidate lists
# ---------------------------------------------------------------------------------------------


@dataclass
class _Link:
    order: int
    url: str
    title: str
    score: float
    #: A short menu word pointing at a column index page: never output as a document.
    menu: bool


@dataclass
class _Candidate:
    """Children of ``parent`` with tag ``tag`` that hold links: one candidate list."""

    parent: LexborNode
    tag: str
    #: item mem_id → (item node, [(link, whether inside a nested list of the item)])
    items: dict[int, tuple[LexborNode, list[tuple[_Link, bool]]]] = field(default_factory=dict)
    score: float = 0.0
    links: list[_Link] = field(default_factory=list)


def _documents(
    tree: LexborHTMLParser, text: str, ctx: _Ctx, list_selector: str, skip: set[str]
) -> list[tuple[str, str]]:
    scope = _selector_scope(tree, list_selector)
    trees: list[tuple[LexborHTMLParser, frozenset[int] | None]] = [(tree, scope)]
    if scope is None:
        trees += [(LexborHTMLParser(fragment), None) for fragment in _hidden_fragments(tree, text)]
    best: list[_Candidate] = []
    best_score = 0.0
    for doc, only in trees:
        cands = _candidates(doc, ctx, only, skip)
        for cand in cands.values():
            _score(cand, use_nav=only is None)
        chosen = _best(cands)
        if chosen and chosen[0].score > best_score:
            best, best_score = chosen, chosen[0].score
    if not best and scope is not None:
        return _all_links(tree, ctx, scope, skip)
    links = sorted((link for cand in best for link in cand.links), key=lambda link: link.order)
    return [(link.url, link.title) for link in links]


def _selector_scope(tree: LexborHTMLParser, selector: str) -> frozenset[int] | None:
    """mem_ids of the links inside the configured list container, or None (no/invalid/no match)."""
    if not selector:
        return None
    try:
        nodes = tree.css(selector)
    except Exception:  # noqa: BLE001 - selectolax raises its own error types on bad CSS
        return None
    ids = {a.mem_id for node in nodes for a in ([node] if node.tag == "a" else []) + node.css("a")}
    return frozenset(ids) if nodes else None


def _hidden_fragments(tree: LexborHTMLParser, text: str) -> list[str]:
    """Markup the parser does not see: Hanweb CDATA records (one fragment), CDATA, comments."""
    fragments = ["".join(f"<div>{record}</div>" for record in records) for _, records in _hanweb_stores(text)]
    if not fragments:
        fragments += [block for block in CDATA_BLOCK.findall(text) if "href" in block.lower()]
    for node in tree.root.traverse(include_text=False) if tree.root is not None else ():
        if node.is_comment_node:
            content = node.comment_content or ""
            if "<a" in content.lower() and "href" in content.lower():
                fragments.append(content)
    return fragments


def _candidates(
    tree: LexborHTMLParser, ctx: _Ctx, only: frozenset[int] | None, skip: set[str]
) -> dict[tuple[int, str], _Candidate]:
    """Every (parent, child tag) above a usable link, with the items (children) holding links."""
    cands: dict[tuple[int, str], _Candidate] = {}
    for order, anchor in enumerate(tree.css("a[href]")):
        if only is not None and anchor.mem_id not in only:
            continue
        link = _link(anchor, order, ctx, skip)
        if link is None:
            continue
        _register(cands, anchor, link)
    return cands


def _link(anchor: LexborNode, order: int, ctx: _Ctx, skip: set[str]) -> _Link | None:
    url = resolve(ctx.url, anchor.attributes.get("href"))
    if url is None:
        return None
    text = _clean_text(anchor)
    title = (anchor.attributes.get("title") or "").strip()
    if title and (not text or (text.endswith(("...", "…", "..")) and len(title) > len(text))):
        text = title
    word = _norm_word(text)
    if word in MORE_WORDS or word in NEXT_WORDS or word in OTHER_PAGER_WORDS:
        return None
    if url in skip or _page_key(url) in skip:
        return None
    if not (ctx.scope.allows(url) and _wanted(url, ctx)):
        return _Link(order, "", text, 0.0, False)
    url_score, text_score = _url_score(url), _text_score(text)
    inside = bool(ctx.folder) and url.lower().startswith(ctx.folder.lower()) and url != ctx.folder
    score = url_score + text_score + (FOLDER_BONUS if inside else 0.0)
    return _Link(order, url, text, score, url_score < 0 and text_score < 0)


def _wanted(url: str, ctx: _Ctx) -> bool:
    if ctx.include is not None and not ctx.include.search(url):
        return False
    return not (ctx.exclude is not None and ctx.exclude.search(url))


def _register(cands: dict[tuple[int, str], _Candidate], anchor: LexborNode, link: _Link) -> None:
    """File the link under each (ancestor, child-on-the-way) pair up to MAX_ITEM_DEPTH levels."""
    child, parent, nested = anchor, anchor.parent, False
    for _ in range(MAX_ITEM_DEPTH):
        if parent is None or parent.tag in ("html", "-undef", "#document", None):
            return
        key = (parent.mem_id, child.tag or "")
        cand = cands.get(key)
        if cand is None:
            cand = cands[key] = _Candidate(parent, child.tag or "")
        item = cand.items.setdefault(child.mem_id, (child, []))
        item[1].append((link, nested))
        nested = nested or (child.tag in NESTED_LIST_TAGS and child is not anchor)
        if parent.tag == "body":
            return
        child, parent = parent, parent.parent


def _main_link(entries: list[tuple[_Link, bool]]) -> _Link | None:
    """The item's best link not inside a nested list (else its best link at all)."""
    pool = [link for link, nested in entries if not nested] or [link for link, _ in entries]
    best: _Link | None = None
    for link in pool:
        if best is None or link.score > best.score or (not best.url and link.url):
            best = link
    return best


def _score(cand: _Candidate, use_nav: bool) -> None:
    """Sum the items' main-link scores (+ a date bonus); discount one-item and navigation lists."""
    total, seen, count = 0.0, set(), 0
    for node, entries in cand.items.values():
        link = _main_link(entries)
        if link is None:
            continue
        count += 1
        if link.url and link.url not in seen:
            seen.add(link.url)
            if not link.menu:
                cand.links.append(link)
            total += link.score + (DATE_BONUS if DATE_SHAPES.search(_item_text(node)) else 0.0)
    if count < 2:
        total *= SINGLE_ITEM_FACTOR
    if total > 0 and use_nav:
        total *= _nav_factor(cand.parent)
    cand.score = total


def _item_text(node: LexborNode) -> str:
    return (node.text(separator=" ") or "")[:2000]


def _nav_factor(node: LexborNode | None) -> float:
    """Discount for lists inside header/nav/footer (strong) or side columns (mild)."""
    factor = 1.0
    depth = 0
    while node is not None and node.tag not in ("body", "html") and depth < 40:
        factor = min(factor, _node_nav_factor(node))
        node, depth = node.parent, depth + 1
    return factor


def _node_nav_factor(node: LexborNode) -> float:
    if node.tag in NAV_TAGS:
        return NAV_FACTOR
    attrs = node.attributes
    names = f"{attrs.get('class') or ''} {attrs.get('id') or ''}".lower()
    if not names.strip():
        return 1.0
    tokens = set(re.split(r"[\s_\-]+", names))
    if tokens & NAV_TOKENS or any(marker in names for marker in NAV_SUBSTRINGS):
        return NAV_FACTOR
    if tokens & SIDE_TOKENS or any(marker in names for marker in SIDE_SUBSTRINGS):
        return SIDE_FACTOR
    return 1.0


def _best(cands: dict[tuple[int, str], _Candidate]) -> list[_Candidate]:
    """The top candidate with its identical sibling containers (a list split over several boxes)."""
    ranked = [cand for cand in cands.values() if cand.score > 0 and cand.links]
    if not ranked:
        return []
    top = max(ranked, key=lambda cand: cand.score)
    grand = top.parent.parent
    if grand is None:
        return [top]
    shape = (top.parent.tag, top.parent.attributes.get("class"))
    family = [
        cand
        for cand in ranked
        if cand.tag == top.tag
        and cand.parent.parent is not None
        and cand.parent.parent.mem_id == grand.mem_id
        and (cand.parent.tag, cand.parent.attributes.get("class")) == shape
    ]
    return family or [top]


def _all_links(
    tree: LexborHTMLParser, ctx: _Ctx, scope: frozenset[int], skip: set[str]
) -> list[tuple[str, str]]:
    found = []
    for order, anchor in enumerate(tree.css("a[href]")):
        if anchor.mem_id in scope:
            link = _link(anchor, order, ctx, skip)
            if link is not None and link.url:
                found.append((link.url, link.title))
    return found


# ---------------------------------------------------------------------------------------------
# Next pages
# ---------------------------------------------------------------------------------------------


def _next_pages(tree: LexborHTMLParser, text: str, url: str, base: str, scope: Scope) -> list[str]:
    strong: list[str] = []
    found: list[str] = []
    for node in tree.css("a, [tagname], [onclick]"):
        for target, is_next in _pager_targets(node, base, url):
            (strong if is_next else found).append(target)
    found += _trs_script_pages(text, url)
    found += _hanweb_pages(text, url)
    pages = _fill_runs(strong + found, url)
    current = {url, _page_key(url)}
    result: list[str] = []
    for page in pages:
        wanted = scope.allows(page) and page not in current and _page_key(page) not in current
        if wanted and page not in result:
            result.append(page)
    return _order_pages(result, url, set(strong))


def _pager_targets(node: LexborNode, base: str, list_url: str) -> Iterable[tuple[str, bool]]:
    word = _norm_word(_clean_text(node))
    is_next = word in NEXT_WORDS
    if not (is_next or word in OTHER_PAGER_WORDS or PAGE_NUMBER_TEXT.match(word)):
        return ()
    attrs = node.attributes
    raw = [attrs.get("href") if node.tag == "a" else None]
    raw += [value for value in [attrs.get("tagname") or ""] if TAGNAME_URL.match(value)]
    raw += ONCLICK_URL.findall(attrs.get("onclick") or "")
    targets = []
    for candidate in raw:
        target = resolve(base, candidate)
        if target and (_pager_shaped(target, list_url) or (is_next and _page_key(target) != _root(list_url))):
            targets.append((target, is_next))
    return targets


def _root(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, (parts.netloc or "").lower(), "/", "", ""))


def _folder(url: str) -> str:
    path = urlsplit(url).path or "/"
    return path[: path.rfind("/") + 1]


def _pager_shaped(target: str, list_url: str) -> bool:
    """Another page of the same list: a page parameter, or a numbered/index file in its folder."""
    parts, here = urlsplit(target), urlsplit(list_url)
    if (parts.hostname or "").lower() != (here.hostname or "").lower():
        return False
    if any(PAGE_PARAM.match(key) and value.isdigit() for key, value in parse_qsl(parts.query)):
        return True
    if _folder(target) != _folder(list_url):
        return False
    name = parts.path.rsplit("/", 1)[-1]
    own = here.path.rsplit("/", 1)[-1]
    return bool(
        not name
        or NUMBERED_FILE.match(name)
        or (INDEX_FILE.match(name)
        and not name.startswith(("list.", "main.", "home.")))
        or _stem(name) == _stem(own)
    )


def _stem(name: str) -> str:
    match = NUMBERED_FILE.match(name)
    if match and match.group("stem"):
        return match.group("stem")[:-1] + match.group("ext")
    return name


def _js_number(text: str, token: str) -> int | None:
    if token.isdigit():
        return int(token)
    match = re.search(JS_VAR.format(name=re.escape(token)), text)
    return int(match.group(1)) if match else None


def _trs_script_pages(text: str, url: str) -> list[str]:
    """createPageHTML(total, current, "index", "html") → index.html, index_1.html … index_{total-1}.html."""
    pages: list[str] = []
    for pattern, first in ((TRS_PAGER, 0), (TRS_PAGER_DIV, 1)):
        for total_token, _current, prefix, ext in pattern.findall(text):
            total = _js_number(text, total_token)
            if total is None:
                continue
            for k in range(first, first + min(total, MAX_GENERATED_PAGES)):
                name = f"{prefix}.{ext}" if k == first else f"{prefix}_{k}.{ext}"
                pages.append(canonical(urljoin(url, name)))
    return pages


def _hanweb_stores(text: str) -> list[tuple[str | None, list[str]]]:
    """Each Hanweb ``<datastore>``: its unit id (from the nextgroup URL) and its CDATA records."""
    if "<datastore" not in text.lower():
        return []
    stores = []
    for block in HANWEB_STORE.findall(text):
        records = [r for r in HANWEB_RECORD.findall(block) if r.strip()]
        unit = re.search(r"unitid=(\d+)", block)
        if records:
            stores.append((unit.group(1) if unit else None, records))
    return sorted(stores, key=lambda store: -len(store[1]))


def _jpage_configs(text: str) -> list[tuple[str | None, int, int]]:
    """(unit id, totalRecord, perPage) of each jpage call."""
    configs = []
    for match in HANWEB_TOTAL.finditer(text):
        lo, hi = max(0, match.start() - HANWEB_WINDOW), match.end() + HANWEB_WINDOW
        per_page = HANWEB_PER_PAGE.search(text, lo, hi)
        units = [next(g for g in m.groups() if g) for m in HANWEB_UNIT.finditer(text, lo, hi)]
        if per_page and int(per_page.group(1)) > 0:
            configs.append((units[0] if units else None, int(match.group(1)), int(per_page.group(1))))
    return configs


def _hanweb_pages(text: str, url: str) -> list[str]:
    """Hanweb jpage: ``?uid=<unitid>&pageNum=N`` for every page totalRecord/perPage implies."""
    configs = _jpage_configs(text) if "totalrecord" in text.lower() else []
    if not configs:
        return []
    stores = [unit for unit, _ in _hanweb_stores(text) if unit]
    config = next((c for unit in stores for c in configs if c[0] == unit), configs[0])
    unit = config[0] or (stores[0] if stores else None)
    if unit is None:
        return []
    count = min(math.ceil(config[1] / config[2]), MAX_GENERATED_PAGES)
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k.lower() not in ("uid", "pagenum")]
    current = next((int(v) for k, v in parse_qsl(parts.query) if k.lower() == "pagenum" and v.isdigit()), 1)
    pages = []
    for n in range(1, count + 1):
        if n != current:
            params = urlencode([*query, ("uid", unit), ("pageNum", str(n))])
            pages.append(urlunsplit((parts.scheme, parts.netloc, parts.path, params, "")))
    return pages


def _page_number(url: str) -> tuple[str, int] | None:
    """(template, number) of a numbered list page URL, for runs and ordering."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    for index, (key, value) in enumerate(query):
        if PAGE_PARAM.match(key) and value.isdigit():
            rest = [*query[:index], (key, "{n}"), *query[index + 1 :]]
            template = urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(rest, safe="{}"), ""))
            return template, int(value)
    folder, name = parts.path.rsplit("/", 1) if "/" in parts.path else ("", parts.path)
    match = NUMBERED_FILE.match(name)
    if not match:
        return None
    template_path = f"{folder}/{match.group('stem') or ''}{{n}}{match.group('ext')}"
    return urlunsplit((parts.scheme, parts.netloc, template_path, parts.query, "")), int(match.group("n"))


def _fill_runs(pages: list[str], url: str) -> list[str]:
    """Numbered pages seen in a pager (2 … 10, 23) imply the pages between them (11 … 22)."""
    runs: dict[str, set[int]] = {}
    for page in [*pages, url]:
        numbered = _page_number(page)
        if numbered:
            runs.setdefault(numbered[0], set()).add(numbered[1])
    filled = list(pages)
    for template, numbers in runs.items():
        ordered = sorted(numbers)
        step = 1
        offset = re.search(r"[?&](\w+)=\{n\}", template)
        if offset and OFFSET_PARAM.match(offset.group(1)):
            step = 0
            for a, b in itertools.pairwise(ordered):
                step = math.gcd(step, b - a)
        if len(ordered) >= 2 and step and (ordered[-1] - ordered[0]) // step <= MAX_GENERATED_PAGES:
            filled += [template.replace("{n}", str(n)) for n in range(ordered[0], ordered[-1] + 1, step)]
    return filled


def _order_pages(pages: list[str], url: str, strong: set[str]) -> list[str]:
    """下一页 targets first, then later pages ascending, then earlier ones."""
    numbered = _page_number(url)
    current = numbered[1] if numbered else 0

    def key(page: str) -> tuple[int, int, int]:
        number = _page_number(page)
        n = number[1] if number else 0
        return (0 if page in strong else 1, 0 if n > current else 1, n)

    return sorted(pages, key=key)
