"""A generated government site for the crawl benchmarks, served fast from a separate process.

``python bench/sitegen.py serve --docs 2000`` serves N documents spread over several *hosts*:
the loopback addresses 127.0.0.1, 127.0.0.2 … (Linux answers on all of 127/8 without setup), each
on its own port, so the crawler's per-hostname politeness (``HostLimiter``) sees H hosts.

The site (all of it deterministic per (seed, document, revision)):

- columns (栏目) of ``per_column`` documents each, dealt round-robin to the hosts; half are TRS
  columns (``/colN/index.html``, ``index_1.html`` … paged by ``createPageHTML``), half ``.shtml``
  columns (``/xxgk/cN/index.shtml``, ``index_2.shtml`` … paged by 下一页 and numbered links);
- ``per_page`` documents per list page, newest first, each with a title and date;
- detail pages of 20–80 KB (``bodies="bench"``; with ``bodies="corpus"`` the corpus's body and
  page sizes, words from a real vocabulary: bench/textgen.py): a header with navigation, breadcrumbs, a 信息公开 field table
  (索引号, 发布机构, 文号 …), a long body of Chinese text, a table in one document of five,
  print/close tools, related links and a footer; two templates (TRS_Editor, ``#zoom``);
- publication dates decaying into the past from ``anchor`` (the newest document of a column is
  today's, the oldest one or two years old), so the crawler's revisit schedule has fresh and old
  documents to tell apart;
- ETag and Last-Modified on every page, and 304 Not Modified for a matching conditional request;
- a control path for the benchmarks (never linked from the site, disallowed in robots.txt):
  ``/__control/change?doc=ID`` (the document gets a new revision: new body, ETag and date),
  ``/__control/remove?doc=ID`` (404 from now on, and gone from its list page),
  ``/__control/stats`` (requests served: ``requests`` in all, and by kind — ``robots``, ``list``,
  ``doc``, ``doc_304``, ``404`` — as JSON) and ``/__control/reset``.

The server is a small asyncio protocol answering GETs from pages generated once at start-up and
kept in memory (a general web server would make the server, not the crawler, the bottleneck on
a two-core machine). In Python: ``with serve(Layout(docs=500)) as site: site.sources(...)``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import datetime as dt
import email.utils
import hashlib
import html
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(ROOT))

import textgen

__all__ = ["Layout", "Site", "serve"]

# --- vocabulary (rules are data) ----------------------------------------------------------------

SUBJECTS = ("县人民政府", "县司法局", "县财政局", "县市场监督管理局", "县生态环境局", "县应急管理局",
            "县教育局", "县卫生健康委员会", "县自然资源局", "县住房和城乡建设局", "县农业农村局",
            "县人力资源和社会保障局", "县民政局", "县审计局", "各乡镇人民政府", "县直各部门")
VERBS = ("深入推进", "全面落实", "严格执行", "持续深化", "扎实开展", "进一步规范", "不断完善", "切实加强",
         "统筹推进", "认真贯彻", "稳步实施", "着力提升", "健全完善", "依法做好", "大力推进")
OBJECTS = ("法治政府建设", "行政执法三项制度", "重大行政决策程序", "行政复议体制改革", "政务公开标准化规范化",
           "优化营商环境", "安全生产专项整治", "基层治理体系", "行政规范性文件备案审查", "公共法律服务体系",
           "矛盾纠纷多元化解", "营商环境评价", "双随机一公开监管", "政府信息主动公开", "普法依法治理",
           "行政执法案卷评查", "法律顾问制度", "权责清单动态调整", "证明事项告知承诺制", "综合行政执法改革")
RESULTS = ("取得明显成效", "形成长效机制", "群众满意度持续提升", "各项指标均达到年度目标", "工作质效稳步提高",
           "依法行政水平显著增强", "营造了良好的法治环境", "有效防范化解了风险隐患", "得到上级部门充分肯定")
CONNECTIVES = ("同时", "此外", "与此同时", "在此基础上", "按照上级部署", "围绕年度目标", "坚持问题导向",
               "以习近平新时代中国特色社会主义思想为指导", "根据《中华人民共和国政府信息公开条例》规定")
NUMBERS = ("全年共办理{n}件", "累计开展{n}次", "涉及{n}个单位", "覆盖{n}个乡镇", "审结率达到{p}%",
           "组织培训{n}场次", "清理文件{n}件", "受理申请{n}件", "整改问题{n}个")
TITLES = ("关于印发《{o}实施方案》的通知", "{y}年{o}工作要点", "关于开展{o}工作的通知", "{y}年度{o}工作报告",
          "关于进一步加强{o}的实施意见", "{y}年{o}情况通报", "关于做好{o}有关工作的通知",
          "{y}年法治政府建设工作报告", "关于公布{y}年{o}结果的公告", "关于{o}的政策解读")
COLUMN_NAMES = ("通知公告", "政策文件", "工作动态", "政策解读", "法定主动公开内容", "规划计划", "财政信息",
                "人事信息", "建议提案办理", "法治政府建设", "应急管理", "统计信息")
NAV = ("首页", "政务公开", "政务服务", "互动交流", "走进本县", "专题专栏", "信息公开", "新闻中心",
       "政策文件", "政策解读", "数据开放", "办事指南")
FRIENDS = ("中国政府网", "省人民政府", "市人民政府", "国家政务服务平台", "省政务服务网", "信用中国",
           "国家法律法规数据库", "12345政务服务便民热线")

_SCRIPT = ("var _hmt = _hmt || [];(function(){var hm=document.createElement('script');"
           "hm.src='https://hm.baidu.com/hm.js?{token}';var s=document.getElementsByTagName('script')[0];"
           "s.parentNode.insertBefore(hm,s);})();")
_STYLE = ("body{margin:0;font:14px/1.8 'Microsoft YaHei',SimSun,sans-serif;color:#333}"
          ".header{height:120px;background:#0d4ea6}.nav li{float:left;width:8%}.position{margin:10px 0}"
          ".TRS_Editor p,#zoom p{text-indent:2em;margin:0 0 12px}.footer{background:#f2f2f2;padding:20px}"
          ".xxgk-info td{border:1px solid #ddd;padding:4px 8px}.list li span{float:right;color:#999}")


# --- layout ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Layout:
    """Which document lives where; every page follows from this and the seed."""

    docs: int = 1000
    hosts: int = 4
    per_column: int = 200
    per_page: int = 20
    seed: int = 1
    #: Columns dealt to hosts in blocks (a site's columns together, as sources.toml lists them)
    #: instead of round-robin.
    grouped: bool = False
    #: Date of the newest documents (ISO); the default is today, so "fresh" documents are fresh.
    anchor: str = ""
    #: "bench": bodies of 5,000–24,000 characters from a pool of phrases (20–80 KB pages);
    #: "corpus": bodies and pages of the corpus's sizes, words from a real vocabulary (textgen.py).
    bodies: str = "bench"

    @cached_property
    def anchor_date(self) -> dt.date:
        return dt.date.fromisoformat(self.anchor) if self.anchor else dt.date.today()

    @property
    def columns(self) -> int:
        return -(-self.docs // self.per_column)

    def column_docs(self, column: int) -> range:
        """Document ids of a column, newest first."""
        start = column * self.per_column
        return range(start, min(start + self.per_column, self.docs))

    def host_of(self, column: int) -> int:
        return column * self.hosts // self.columns if self.grouped else column % self.hosts

    def kind_of(self, column: int) -> str:
        return "trs" if column % 2 == 0 else "shtml"

    def list_path(self, column: int, page: int = 0) -> str:
        if self.kind_of(column) == "trs":
            return f"/col{column}/index.html" if page == 0 else f"/col{column}/index_{page}.html"
        return f"/xxgk/c{column}/index.shtml" if page == 0 else f"/xxgk/c{column}/index_{page + 1}.shtml"

    def published(self, doc: int) -> dt.date:
        """Newest document of a column is from the anchor date; older ones 0–4 days apart each."""
        column, position = divmod(doc, self.per_column)
        return self._dates[column][position]

    @cached_property
    def _dates(self) -> list[list[dt.date]]:
        dates = []
        for column in range(self.columns):
            rng = random.Random(f"{self.seed}:date:{column}")
            days, own = 0, []
            for _ in self.column_docs(column):
                own.append(self.anchor_date - dt.timedelta(days=days))
                days += rng.choice((0, 1, 1, 2, 2, 3, 4))
            dates.append(own)
        return dates

    def doc_path(self, doc: int) -> str:
        column = doc // self.per_column
        date = self.published(doc)
        if self.kind_of(column) == "trs":
            return f"/col{column}/{date:%Y%m}/t{date:%Y%m%d}_{400000 + doc}.html"
        token = hashlib.md5(f"{self.seed}:{doc}".encode()).hexdigest()
        return f"/xxgk/c{column}/{date:%Y%m}/{token}.shtml"

    def doc_url(self, doc: int, bases: list[str]) -> str:
        return bases[self.host_of(doc // self.per_column)] + self.doc_path(doc)

    def source_urls(self, bases: list[str]) -> list[tuple[str, str]]:
        """(source name, first list page URL) per column: one source per column, as in sources.toml."""
        return [(f"bench-c{c}", bases[self.host_of(c)] + self.list_path(c)) for c in range(self.columns)]


# --- pages -------------------------------------------------------------------------------------


class Site:
    """Generates the pages of a :class:`Layout`, and knows which are changed or removed."""

    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        rng = random.Random(f"{layout.seed}:pool")
        self._sentences = [self._sentence(rng) for _ in range(3000)]
        self.revision: dict[int, int] = {}
        self.removed: set[int] = set()
        self._docs: dict[str, int] = {}  # "host index|path" → doc id
        for d in range(layout.docs):
            self._docs[f"{layout.host_of(d // layout.per_column)}|{layout.doc_path(d)}"] = d
        self._lists: dict[str, tuple[int, int]] = {}
        for c in range(layout.columns):
            for p in range(self.pages_of(c)):
                self._lists[f"{layout.host_of(c)}|{layout.list_path(c, p)}"] = (c, p)
        self._cache: dict[tuple[int, int], tuple[bytes, str, str]] = {}

    # -- text ---------------------------------------------------------------------------------

    @staticmethod
    def _sentence(rng: random.Random) -> str:
        parts = [rng.choice(CONNECTIVES) + "，"] if rng.random() < 0.4 else []
        for _ in range(rng.randint(1, 3)):
            number = rng.choice(NUMBERS).format(n=rng.randint(3, 900), p=rng.randint(85, 100))
            parts.append(f"{rng.choice(SUBJECTS)}{rng.choice(VERBS)}{rng.choice(OBJECTS)}，{number}，")
        parts.append(rng.choice(RESULTS) + "。")
        return "".join(parts)

    def title(self, doc: int) -> str:
        rng = random.Random(f"{self.layout.seed}:title:{doc}")
        pattern = rng.choice(TITLES)
        return pattern.format(o=rng.choice(OBJECTS), y=self.layout.published(doc).year - rng.randint(0, 1))

    def pages_of(self, column: int) -> int:
        return max(1, -(-len(self.layout.column_docs(column)) // self.layout.per_page))

    # -- serving ------------------------------------------------------------------------------

    def page(self, host: int, path: str) -> tuple[str, bytes, str, str] | None:
        """(kind, body, etag, last-modified) of a path on a host, or None for 404."""
        key = f"{host}|{path}"
        if key in self._docs:
            doc = self._docs[key]
            if doc in self.removed:
                return None
            return ("doc", *self.document(doc))
        if key in self._lists:
            column, page = self._lists[key]
            body = self.list_page(column, page)
            etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
            return "list", body, etag, _http_date(self.layout.anchor_date)
        return None

    def document(self, doc: int) -> tuple[bytes, str, str]:
        """A detail page's bytes, ETag and Last-Modified at its current revision (cached)."""
        rev = self.revision.get(doc, 0)
        if (doc, rev) not in self._cache:
            body = self.render_document(doc, rev)
            etag = '"' + hashlib.sha1(f"{self.layout.seed}:{doc}:{rev}".encode()).hexdigest()[:16] + '"'
            modified = self.layout.published(doc) + dt.timedelta(days=rev)
            self._cache[(doc, rev)] = (body, etag, _http_date(modified))
        return self._cache[(doc, rev)]

    def render_document(self, doc: int, rev: int = 0) -> bytes:
        lay = self.layout
        column = doc // lay.per_column
        rng = random.Random(f"{lay.seed}:doc:{doc}")
        title, date = self.title(doc), lay.published(doc)
        publisher = SUBJECTS[doc % len(SUBJECTS)].replace("各乡镇人民政府", "县人民政府办公室")
        page_size = 0  # the page as it comes; padded to this size with a site-wide menu
        if lay.bodies == "corpus":
            stats = textgen.corpus_stats()
            paragraphs = textgen.vocabulary().text(rng, textgen.jittered_pick(rng, stats.body_lengths))
            page_size = min(textgen.jittered_pick(rng, stats.page_bytes), 2 * statistics.median(stats.page_bytes))
        else:
            paragraphs = self._phrase_paragraphs(rng)
        if rev:
            paragraphs.insert(1, f"（{date + dt.timedelta(days=rev)}第{rev}次修订：根据上级要求，"
                                 f"对{rng.choice(OBJECTS)}相关内容作了调整，{rng.choice(RESULTS)}。）")
        table = self._table(rng) if doc % 5 == 0 else ""
        fields = {"索引号": f"11650000MB{doc % 10000:04d}/{date.year}-{doc:05d}", "发布机构": publisher,
                  "文号": f"示政办发〔{date.year}〕{doc % 97 + 1}号", "成文日期": f"{date:%Y-%m-%d}",
                  "发布日期": f"{date:%Y-%m-%d}", "主题分类": COLUMN_NAMES[column % len(COLUMN_NAMES)]}
        body = "\n".join(f'<p style="text-indent:2em">{html.escape(p)}</p>' for p in paragraphs)
        body = body.replace("\n", "\n" + table, 1) if table else body
        signature = (f'<p style="text-align:right">{publisher}</p>\n'
                     f'<p style="text-align:right">{date.year}年{date.month}月{date.day}日</p>')
        page = _TRS_DETAIL if lay.kind_of(column) == "trs" else _SHTML_DETAIL
        out = page.format(
            title=html.escape(title), date=f"{date:%Y-%m-%d}", publisher=publisher,
            column=COLUMN_NAMES[column % len(COLUMN_NAMES)], head=_head(title, column, date, publisher, doc),
            header=_header(column) + "{menu}", fields=_fields(fields), body=body, signature=signature,
            hits=rng.randint(20, 5000), related=_related(rng), footer=_footer(),
            script=_SCRIPT.replace("{token}", hashlib.md5(str(doc).encode()).hexdigest()),
        ).encode("utf-8")
        return out.replace(b"{menu}", _mega_menu(rng, page_size - len(out)).encode("utf-8"), 1)

    def _phrase_paragraphs(self, rng: random.Random) -> list[str]:
        target = rng.randint(5_000, 24_000)  # characters of body text: 20–80 KB pages
        paragraphs, size = [], 0
        while size < target:
            text = "".join(rng.choices(self._sentences, k=rng.randint(2, 7)))
            paragraphs.append(text)
            size += len(text)
        return paragraphs

    @staticmethod
    def _table(rng: random.Random) -> str:
        rows = ["<tr><td>序号</td><td>事项</td><td>责任单位</td><td>完成时限</td></tr>"]
        for i in range(1, rng.randint(6, 20)):
            rows.append(f"<tr><td>{i}</td><td>{rng.choice(OBJECTS)}</td><td>{rng.choice(SUBJECTS)}</td>"
                        f"<td>{rng.randint(1, 12)}月底前</td></tr>")
        return '<table border="1" cellspacing="0">' + "".join(rows) + "</table>\n"

    def list_page(self, column: int, page: int) -> bytes:
        lay = self.layout
        live = [d for d in lay.column_docs(column) if d not in self.removed]
        total = max(1, -(-len(live) // lay.per_page))
        items = live[page * lay.per_page:(page + 1) * lay.per_page]
        lis = "\n".join(
            f'<li><a href="{_relative(lay.list_path(column), lay.doc_path(d))}" title="{html.escape(self.title(d))}"'
            f' target="_blank">{html.escape(self.title(d))}</a><span>{lay.published(d):%Y-%m-%d}</span></li>'
            for d in items)
        if lay.kind_of(column) == "trs":
            pager = f'<script>createPageHTML({total}, {page}, "index", "html");</script>'
        else:
            links = []
            if page + 1 < total:
                links.append(f'<a href="index_{page + 2}.shtml">下一页</a>')
            for p in range(total):
                name = "index.shtml" if p == 0 else f"index_{p + 1}.shtml"
                links.append(f"<span>{p + 1}</span>" if p == page else f'<a href="{name}">{p + 1}</a>')
            pager = " ".join(links)
        name = COLUMN_NAMES[column % len(COLUMN_NAMES)]
        return _LIST.format(head=f'<meta charset="utf-8"><title>{name}_示范县人民政府</title><style>{_STYLE}</style>',
                            header=_header(column), column=name, items=lis, pager=pager,
                            footer=_footer()).encode("utf-8")


def _relative(list_path: str, doc_path: str) -> str:
    folder = list_path.rsplit("/", 1)[0] + "/"
    return "./" + doc_path[len(folder):] if doc_path.startswith(folder) else doc_path


def _http_date(day: dt.date) -> str:
    return email.utils.format_datetime(dt.datetime(day.year, day.month, day.day, 9, 30, tzinfo=dt.UTC),
                                       usegmt=True)


def _head(title: str, column: int, date: dt.date, publisher: str, doc: int) -> str:
    name = COLUMN_NAMES[column % len(COLUMN_NAMES)]
    return (f'<meta charset="utf-8"><meta name="SiteName" content="示范县人民政府">'
            f'<meta name="ColumnName" content="{name}"><meta name="ArticleTitle" content="{html.escape(title)}">'
            f'<meta name="PubDate" content="{date:%Y-%m-%d} 09:30"><meta name="ContentSource" content="{publisher}">'
            f'<meta name="keywords" content="{name},政府信息公开"><title>{html.escape(title)}_{name}_示范县人民政府</title>'
            f'<link rel="stylesheet" href="/css/common.css"><style>{_STYLE}</style>')


def _header(column: int) -> str:
    nav = "".join(f'<li><a href="/{i}/">{n}</a></li>' for i, n in enumerate(NAV))
    menu = "".join(f'<li><a href="/col{i}/">{n}</a></li>' for i, n in enumerate(COLUMN_NAMES))
    name = COLUMN_NAMES[column % len(COLUMN_NAMES)]
    return (f'<div class="header"><div class="logo"><img src="/images/logo.png" alt="示范县人民政府"></div>'
            f'<form class="search" action="/search/"><input name="q" placeholder="请输入关键字"><button>搜索</button>'
            f'</form><div class="topbar">无障碍浏览 | 长者模式 | 繁體版 | 登录 | 注册</div></div>'
            f'<div class="nav"><ul>{nav}</ul></div>'
            f'<div class="position">当前位置：<a href="/">首页</a> &gt; <a href="/zwgk/">政务公开</a> &gt; '
            f'<a href="index.html">{name}</a></div><div class="left"><h2>政务公开</h2><ul class="submenu">{menu}</ul></div>')


def _mega_menu(rng: random.Random, size: int) -> str:
    """About ``size`` bytes of the site-wide menu real portals put on every page (every column of
    every department, as links), which is where most of a real page's bytes are."""
    items, total = [], 0
    while total < size:
        item = (f'<li><a href="/{rng.choice(("zwgk", "bmxx", "xxgk", "zcwj"))}/{rng.randint(100, 99999)}/"'
                f' target="_blank">{rng.choice(SUBJECTS)}{rng.choice(COLUMN_NAMES)}</a></li>')
        items.append(item)
        total += len(item.encode("utf-8"))
    return f'<div class="menu-all"><ul>{"".join(items)}</ul></div>' if items else ""


def _fields(fields: dict[str, str]) -> str:
    cells = "".join(f"<td><b>{k}：</b></td><td>{v}</td>" for k, v in fields.items())
    return f'<table class="xxgk-info"><tr>{cells}</tr></table>'


def _related(rng: random.Random) -> str:
    links = "".join(f'<li><a href="/zcjd/{rng.randint(1000, 9999)}.html">{rng.choice(TITLES).format(o=rng.choice(OBJECTS), y=2024)}'
                    f"</a></li>" for _ in range(8))
    return f'<div class="related"><h3>相关链接</h3><ul>{links}</ul></div>'


def _footer() -> str:
    friends = "".join(f'<option value="/link/{i}">{n}</option>' for i, n in enumerate(FRIENDS))
    return (f'<div class="footer"><select onchange="window.open(this.value)"><option>政府网站</option>{friends}'
            f'</select><p><a href="/about/">关于我们</a> | <a href="/map/">网站地图</a> | '
            f'<a href="javascript:void(0)">联系我们</a></p><p>主办单位：示范县人民政府办公室　承办单位：示范县大数据中心</p>'
            f'<p>版权所有：示范县人民政府　ICP备案号：X ICP备12345678号　网站标识码：6500000001</p>'
            f'<p>建议使用1920×1080分辨率 IE9及以上版本浏览器</p></div>')


_TRS_DETAIL = """<!DOCTYPE html>
<html lang="zh-CN"><head>{head}<script>{script}</script></head>
<body>
{header}
<div class="main">
{fields}
<div class="article">
<h1 class="title">{title}</h1>
<div class="info">来源：{publisher}　　发布时间：{date} 09:30　　浏览次数：<span id="hits">{hits}</span>　【字体：大 中 小】</div>
<div class="TRS_Editor">
{body}
{signature}
</div>
<div class="tools">【<a href="javascript:window.print()">打印本页</a>】【<a href="javascript:window.close()">关闭窗口</a>】
<span class="qr">扫一扫在手机打开当前页</span></div>
</div>
{related}
</div>
{footer}
</body></html>
"""

_SHTML_DETAIL = """<!DOCTYPE html>
<html><head>{head}</head>
<body>
{header}
<div class="zw-main">
<div class="xxgk-table">{fields}</div>
<div class="zw-title">{title}</div>
<div class="zw-info"><span>发布时间：{date}</span><span>来源：{publisher}</span><span>点击数：<span>{hits}</span></span></div>
<div id="zoom">
{body}
{signature}
</div>
<div class="zw-tools"><a href="javascript:window.print()">【打印】</a><a href="javascript:window.close()">【关闭】</a></div>
</div>
{related}
{footer}
<script>{script}</script>
</body></html>
"""

_LIST = """<!DOCTYPE html>
<html><head>{head}</head>
<body>
{header}
<div class="right"><h2>{column}</h2><ul class="list">
{items}
</ul>
<div class="page">{pager}</div>
</div>
{footer}
</body></html>
"""

_ROBOTS = b"User-agent: *\nDisallow: /__control/\n"
_NOT_FOUND = "<html><head><title>404</title></head><body><h1>404 页面不存在</h1></body></html>".encode()


# --- the server --------------------------------------------------------------------------------


class _Server:
    """Answers GET requests from a :class:`Site`; counts what it served."""

    def __init__(self, site: Site, addresses: list[str]) -> None:
        self.site = site
        self.addresses = addresses  # host index = position of the local address
        self.stats: Counter[str] = Counter()

    def respond(self, host: int, target: str, headers: dict[bytes, bytes]) -> tuple[int, list[tuple[str, str]], bytes]:
        parts = urlsplit(target)
        if parts.path.startswith("/__control/"):
            return self._control(parts.path, parse_qs(parts.query))
        self.stats["requests"] += 1
        if parts.path == "/robots.txt":
            self.stats["robots"] += 1
            return 200, [("Content-Type", "text/plain")], _ROBOTS
        found = self.site.page(host, parts.path)
        if found is None:
            self.stats["404"] += 1
            return 404, [("Content-Type", "text/html; charset=utf-8")], _NOT_FOUND
        kind, body, etag, modified = found
        caching = [("ETag", etag), ("Last-Modified", modified)]
        match = headers.get(b"if-none-match")
        since = headers.get(b"if-modified-since")
        if (match is not None and match.decode() == etag) or (match is None and since is not None
                                                             and since.decode() == modified):
            self.stats[f"{kind}_304"] += 1
            return 304, caching, b""
        self.stats[kind] += 1
        return 200, [("Content-Type", "text/html; charset=utf-8"), *caching], body

    def _control(self, path: str, query: dict[str, list[str]]) -> tuple[int, list[tuple[str, str]], bytes]:
        action = path.removeprefix("/__control/")
        if action in ("change", "remove"):
            doc = int(query["doc"][0])
            if action == "change":
                self.site.revision[doc] = self.site.revision.get(doc, 0) + 1
            else:
                self.site.removed.add(doc)
        elif action == "reset":
            self.stats.clear()
        elif action != "stats":
            return 404, [], b"unknown control"
        return 200, [("Content-Type", "application/json")], json.dumps(self.stats).encode()


class _Protocol(asyncio.Protocol):
    """HTTP/1.1 with keep-alive, GET only, no request bodies: what crawlers send."""

    def __init__(self, server: _Server) -> None:
        self.server = server
        self.buffer = b""
        self.transport: asyncio.Transport | None = None
        self.host = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        address = transport.get_extra_info("sockname")[0]
        self.host = self.server.addresses.index(address) if address in self.server.addresses else 0

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while self.transport is not None:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4:]
            lines = head.split(b"\r\n")
            try:
                method, target, version = lines[0].split(b" ", 2)
            except ValueError:
                self.transport.close()
                return
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                headers[name.strip().lower()] = value.strip()
            status, fields, body = self.server.respond(self.host, target.decode("latin-1"), headers)
            close = headers.get(b"connection", b"").lower() == b"close" or version == b"HTTP/1.0"
            out = [f"HTTP/1.1 {status} {_REASONS.get(status, 'OK')}", "Server: sitegen",
                   f"Content-Length: {len(body)}", *(f"{k}: {v}" for k, v in fields)]
            if close:
                out.append("Connection: close")
            payload = body if method != b"HEAD" else b""
            self.transport.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1") + payload)
            if close:
                self.transport.close()
                self.transport = None


_REASONS = {200: "OK", 304: "Not Modified", 404: "Not Found"}


async def _serve_forever(layout: Layout, hosts: int) -> None:
    started = time.monotonic()
    site = Site(layout)
    for d in range(layout.docs):  # generate every page now, so requests cost no generation
        site.document(d)
    addresses = [_address(i) for i in range(hosts)]
    server = _Server(site, addresses)
    loop = asyncio.get_running_loop()
    ports = []
    for address in addresses:
        listener = await loop.create_server(lambda: _Protocol(server), address, 0, backlog=1024)
        ports.append(listener.sockets[0].getsockname()[1])
    sizes = [len(site.document(d)[0]) for d in range(layout.docs)]
    ready = {"bases": [f"http://{a}:{p}" for a, p in zip(addresses, ports, strict=False)], "pid": os.getpid(),
             "bytes": sum(sizes), "min_bytes": min(sizes, default=0), "max_bytes": max(sizes, default=0),
             "generated_in": round(time.monotonic() - started, 2), **_body_figures(site)}
    print(json.dumps(ready), flush=True)
    await asyncio.Event().wait()


# --- the parent's handle -----------------------------------------------------------------------


@dataclass
class Running:
    """A site served by a child process: its base URLs per host and its control path."""

    layout: Layout
    bases: list[str]
    info: dict
    process: subprocess.Popen

    def doc_urls(self) -> list[str]:
        return [self.layout.doc_url(d, self.bases) for d in range(self.layout.docs)]

    def sources(self, **settings: object) -> list:
        """One ``crawler.config.Source`` per column, with these settings (delay=0 …)."""
        from crawler.config import Settings, Source

        config = dataclasses.replace(Settings(), **settings)  # type: ignore[arg-type]
        return [Source(name=name, urls=(url,), settings=config)
                for name, url in self.layout.source_urls(self.bases)]

    def control(self, action: str, doc: int | None = None) -> dict:
        import httpx

        query = f"?doc={doc}" if doc is not None else ""
        return httpx.get(f"{self.bases[0]}/__control/{action}{query}", timeout=10).json()

    def change(self, doc: int) -> None:
        self.control("change", doc)

    def remove(self, doc: int) -> None:
        self.control("remove", doc)

    def stats(self) -> dict:
        return self.control("stats")

    def reset(self) -> None:
        self.control("reset")


@contextmanager
def serve(layout: Layout) -> Iterator[Running]:
    """Serve ``layout`` from a child process until the block ends."""
    args = [sys.executable, str(Path(__file__).resolve()), "serve", "--docs", str(layout.docs),
            "--hosts", str(layout.hosts), "--per-column", str(layout.per_column),
            "--per-page", str(layout.per_page), "--seed", str(layout.seed),
            "--anchor", layout.anchor_date.isoformat(), "--bodies", layout.bodies,
            *(["--grouped"] if layout.grouped else [])]
    process = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line:
            raise RuntimeError(f"sitegen server exited with {process.wait()}")
        info = json.loads(line)
        yield Running(dataclasses.replace(layout, anchor=layout.anchor_date.isoformat()), info["bases"],
                      info, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _body_figures(site: Site, sample: int = 100) -> dict[str, float]:
    """Median characters and distinct index tokens per character of the extracted bodies of up to
    ``sample`` documents."""
    from crawler.extract import extract

    docs = range(0, site.layout.docs, max(1, site.layout.docs // sample))
    bodies = [extract(site.document(d)[0], "http://127.0.0.1/doc.html").body for d in docs]
    if not bodies:
        return {}
    return {"body_chars": statistics.median(map(len, bodies)),
            "density": statistics.median(map(textgen.density, bodies))}


def _address(host: int) -> str:
    """The loopback address of host number ``host``: 127.0.0.1 … 127.0.0.250, 127.0.1.1 …"""
    return f"127.0.{host // 250}.{host % 250 + 1}"


def _loopback_ok(hosts: int) -> None:
    for i in range(hosts):
        with socket.socket() as s:
            s.bind((_address(i), 0))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("serve", "sample"):
        p = sub.add_parser(name)
        p.add_argument("--docs", type=int, default=1000)
        p.add_argument("--hosts", type=int, default=4)
        p.add_argument("--per-column", type=int, default=200)
        p.add_argument("--per-page", type=int, default=20)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--anchor", default="", help="date of the newest documents (default today)")
        p.add_argument("--grouped", action="store_true", help="a host's columns together, not round-robin")
        p.add_argument("--bodies", choices=("bench", "corpus"), default="bench",
                       help="bench: long phrase-pool bodies; corpus: the corpus's sizes and vocabulary")
    sub.choices["sample"].add_argument("--doc", type=int, default=0, help="print this document's page")
    args = parser.parse_args(argv)
    layout = Layout(docs=args.docs, hosts=args.hosts, per_column=args.per_column, per_page=args.per_page,
                    seed=args.seed, anchor=args.anchor, grouped=args.grouped, bodies=args.bodies)
    if args.command == "sample":
        sys.stdout.write(Site(layout).render_document(args.doc).decode())
        return 0
    _loopback_ok(args.hosts)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_forever(layout, args.hosts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
