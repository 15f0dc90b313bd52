import pytest

from crawler.encoding import charset_from_content_type, decode_html

PAGE = "<html><head><title>通知</title></head><body><p>会议由县长王国镕主持。</p></body></html>"


@pytest.mark.parametrize("raw, declared, encoding", [
    (PAGE.encode("utf-8"), None, "utf-8"),
    (PAGE.replace("<head>", '<head><meta charset="gb2312">').encode("gb18030"), None, "gb18030"),
    (PAGE.encode("gb18030"), "utf-8", "gb18030"),          # a wrong HTTP declaration is not trusted
    (PAGE.encode("gb18030"), "gbk", "gb18030"),            # every GB label decodes as GB18030
    (b"\xef\xbb\xbf" + PAGE.encode("utf-8"), "gbk", "utf-8"),  # a byte-order mark wins
    ("\ufeff".encode("utf-16-le") + PAGE.encode("utf-16-le"), None, "utf-16"),
])
def test_pages_decode_to_the_same_text_whatever_their_labels(raw, declared, encoding):
    text, used = decode_html(raw, declared)
    assert used == encoding and "王国镕" in text and "\ufffd" not in text


def test_undecodable_bytes_are_decoded_best_effort_without_raising():
    text, used = decode_html(PAGE.replace("<body>", "<body>\udcff", 1).encode("utf-8", "surrogateescape"))
    assert used == "utf-8" and "王国镕" in text and text.count("\ufffd") == 1


def test_charset_comes_from_the_content_type_header():
    assert charset_from_content_type('text/html; charset="GBK"') == "GBK"
    assert charset_from_content_type("text/html") is None
