"""URLs: the one home of every rule the stages apply to them.

- :func:`host_key`: a host as compared everywhere (lower case, no final dot, IDNA/punycode), so
  ``政府.网络``, ``xn--mxtq1m.xn--io0a7i`` and ``XN--MXTQ1M.XN--IO0A7I`` are one host;
- :class:`Origin` / :func:`origin`: (scheme, host key, port), the port always explicit;
- :class:`Scope`: the origins a source may request, from its URLs and ``allowed_hosts``;
- :func:`resolve`: a link as an absolute http(s) URL in :func:`canonical` form, or None;
- :func:`canonical`: a document's identity: scheme and host normalised, default port dropped,
  credentials and fragment dropped, nothing else touched (query order and escapes are kept, so
  URLs archived before stay the same key).

Pure functions: no network, never raise on bad input (they return None or the input's best form).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urldefrag, urljoin, urlsplit, urlunsplit

import idna

__all__ = [
    "DEFAULT_PORTS",
    "SKIP_SCHEMES",
    "Origin",
    "Scope",
    "canonical",
    "has_credentials",
    "host_key",
    "origin",
    "resolve",
]

#: Link targets that never lead to a page (compared lower-cased with ``str.startswith``).
SKIP_SCHEMES = ("javascript:", "mailto:", "tel:", "data:", "about:", "vbscript:", "#")
#: The schemes fetched, and the port each means when a URL gives none.
DEFAULT_PORTS = {"http": 80, "https": 443}


def host_key(host: str) -> str:
    """A host as compared and stored: lower case, no final dot, IDNA-encoded (punycode).

    A name IDNA rejects (an underscore, an IPv6 literal) is kept lower-cased as written.
    """
    host = host.strip().lower().rstrip(".")
    if not host or (host.isascii() and "xn--" not in host):
        return host
    try:
        return idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError:
        return host


@dataclass(frozen=True, order=True)
class Origin:
    """Where a request goes: scheme, host key and port (explicit, default ports included)."""

    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        port = "" if DEFAULT_PORTS.get(self.scheme) == self.port else f":{self.port}"
        return f"{self.scheme}://{host}{port}"


def origin(url: str) -> Origin | None:
    """The origin of an http(s) URL; None for other schemes, no host, or a malformed port."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    host = host_key(parts.hostname or "")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return Origin(scheme, host, DEFAULT_PORTS[scheme] if port is None else port)


def has_credentials(url: str) -> bool:
    """Whether ``url`` carries ``user[:password]@`` (which must never be sent or stored)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.username is not None or parts.password is not None


def canonical(url: str) -> str:
    """``url`` as a document's identity (see the module docstring); a URL urlsplit rejects is
    returned stripped of its fragment only."""
    url = url.strip()
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return urldefrag(url)[0]
    scheme = parts.scheme.lower()
    if not parts.netloc:
        return urlunsplit((scheme, "", parts.path, parts.query, ""))
    host = host_key(parts.hostname or "")
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))


def resolve(base: str, href: str | None) -> str | None:
    """``href`` as found on the page at ``base``: an absolute http(s) URL in canonical form, or
    None for javascript:/mailto:/#anchors and anything unreadable."""
    href = (href or "").strip().replace("\\", "/")
    if not href or href.lower().startswith(SKIP_SCHEMES):
        return None
    try:
        absolute = urljoin(base, href)
    except ValueError:
        return None
    if origin(absolute) is None:
        return None
    return canonical(absolute)


class Scope:
    """The origins a source may request.

    Built from its URLs and ``allowed_hosts``. A URL allows its own origin; on a default port it
    also allows the other scheme's default port, since sites move between http and https by
    redirect. A bare host name allows that host on the default ports of http and https (``host:port``
    on that port, either scheme). Another port of an allowed host is another service: not allowed.
    """

    def __init__(self, entries: Iterable[str]) -> None:
        allowed: set[Origin] = set()
        for entry in entries:
            allowed.update(_origins(entry.strip()))
        self.origins = frozenset(allowed)

    def __repr__(self) -> str:
        return f"Scope({sorted(map(str, self.origins))!r})"

    def __bool__(self) -> bool:
        return bool(self.origins)

    def allows(self, url: str) -> bool:
        """Whether ``url`` is on one of the allowed origins."""
        found = origin(url)
        return found is not None and found in self.origins

    @property
    def hosts(self) -> frozenset[str]:
        """The host keys of the allowed origins."""
        return frozenset(o.host for o in self.origins)


def _origins(entry: str) -> set[Origin]:
    """The origins one ``Scope`` entry (a URL, ``host`` or ``host:port``) allows."""
    if "://" in entry:
        found = origin(entry)
        if found is None:
            return set()
        if found.port != DEFAULT_PORTS[found.scheme]:
            return {found}
        return {Origin(s, found.host, p) for s, p in DEFAULT_PORTS.items()}
    try:
        parts = urlsplit("//" + entry)
        port = parts.port
    except ValueError:
        return set()
    host = host_key(parts.hostname or "")
    if not host:
        return set()
    return {Origin(s, host, DEFAULT_PORTS[s] if port is None else port) for s in DEFAULT_PORTS}
