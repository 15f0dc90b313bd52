"""The shared URL and text rules (crawler/urls.py, crawler/text.py): one host key, one origin,
one resolve, one canonical form, one whitespace rule."""

from __future__ import annotations

import pytest

from crawler.text import clean, normal, squeeze
from crawler.urls import Origin, Scope, canonical, has_credentials, host_key, origin, resolve

PUNY = "xn--mxtq1m.xn--io0a7i"  # 政府.网络


@pytest.mark.parametrize("host", ["政府.网络", PUNY, PUNY.upper(), "政府.网络.", " 政府.网络 "])
def test_one_host_key_for_unicode_punycode_and_upper_case(host: str) -> None:
    assert host_key(host) == PUNY


def test_host_key_keeps_what_idna_rejects() -> None:
    assert host_key("Under_Score.Example.COM") == "under_score.example.com"
    assert host_key("::1") == "::1"


def test_origin_makes_the_port_explicit() -> None:
    assert origin("http://WWW.Example.gov.cn/a") == Origin("http", "www.example.gov.cn", 80)
    assert origin("https://www.example.gov.cn:443/a") == Origin("https", "www.example.gov.cn", 443)
    assert origin("http://www.example.gov.cn:8080/") == Origin("http", "www.example.gov.cn", 8080)
    assert str(origin("http://[::1]:8080/")) == "http://[::1]:8080"
    assert str(origin("https://政府.网络:443/")) == f"https://{PUNY}"
    for bad in ("ftp://h/a", "http:///a", "http://h:99999/", "mailto:a@b", "/relative"):
        assert origin(bad) is None


def test_canonical_form_of_a_document_url() -> None:
    assert canonical("HTTP://User:Secret@WWW.Example.gov.cn:80/a/b.html?x=1&a=2#top") == \
        "http://www.example.gov.cn/a/b.html?x=1&a=2"
    assert canonical("https://政府.网络:8443") == f"https://{PUNY}:8443/"
    assert canonical(f"http://{PUNY.upper()}/a") == canonical("http://政府.网络/a") == f"http://{PUNY}/a"
    # Query order and escapes are the document's own: archived keys stay the same.
    assert canonical("http://h/a?b=%E4%B8%AD&a=1") == "http://h/a?b=%E4%B8%AD&a=1"


def test_credentials_are_detected() -> None:
    assert has_credentials("http://user:pass@h/") and has_credentials("http://user@h/")
    assert not has_credentials("http://h/a?user=x@y")


@pytest.mark.parametrize("href", ["javascript:void(0)", "JavaScript:go()", "mailto:a@b.cn", "tel:123",
                                  "#top", "", "   ", "http://h:99999/x", "ftp://h/a", "data:text/html,x"])
def test_resolve_skips_what_is_not_a_page(href: str) -> None:
    assert resolve("http://www.example.gov.cn/col/", href) is None


def test_resolve_joins_and_canonicalises() -> None:
    base = "http://www.example.gov.cn/col/index.html"
    assert resolve(base, " ./202403/t1.html#x ") == "http://www.example.gov.cn/col/202403/t1.html"
    assert resolve(base, "..\\a\\b.html") == "http://www.example.gov.cn/a/b.html"
    assert resolve(base, "//u:p@WWW.EXAMPLE.gov.cn:80/c") == "http://www.example.gov.cn/c"


def test_scope_allows_origins_not_host_names() -> None:
    scope = Scope(["http://www.example.gov.cn/col/", "http://127.0.0.1:8000/x", "xxgk.example.gov.cn"])
    assert scope.allows("http://www.example.gov.cn/a")
    assert scope.allows("https://www.example.gov.cn/a")  # the site moving to https by redirect
    assert not scope.allows("http://www.example.gov.cn:8080/a")  # another service on the host
    assert scope.allows("http://127.0.0.1:8000/a")
    assert not scope.allows("http://127.0.0.1:8001/a") and not scope.allows("http://127.0.0.1/a")
    assert scope.allows("https://XXGK.example.gov.cn/a") and not scope.allows("http://xxgk.example.gov.cn:81/")
    assert not scope.allows("http://evil.com/") and not scope.allows("javascript:x")
    assert Scope(["127.0.0.1:8000"]).allows("https://127.0.0.1:8000/")


def test_scope_of_unicode_and_punycode_hosts_is_one() -> None:
    for configured in ("政府.网络", PUNY, PUNY.upper(), "http://政府.网络/"):
        scope = Scope([configured])
        for link in (f"http://{PUNY}/a", "http://政府.网络/a", f"http://{PUNY.upper()}/a"):
            assert scope.allows(link), (configured, link)


def test_text_rules() -> None:
    assert clean("  关于\u200b开展\u3000调查\xa0的\n\t通知 ") == "关于开展 调查 的 通知"
    assert squeeze(" 关于 开展\u3000调查\ufeff ") == "关于开展调查"
    assert normal("ＡＢＣ　１２３，\u200d好") == "ABC123,好"
    assert clean("") == squeeze("") == normal("") == ""
