import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from crawler.cli import cli
from crawler.config import ConfigError, Settings, load_config

GOOD = """
[defaults]
delay = 2
max_pages = 5

[[sources]]
name = "hunchun-tzgg"
urls = ["http://www.hunchun.gov.cn/zw_1910/tzgg/"]

[[sources]]
name = "tongliang"
urls = "https://www.cqstl.gov.cn/jz/ssz_70785/zwgk_70755/"
delay = 0.5
body_selector = "div.TRS_Editor"
schedule = "30 4 * * 1"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sources_take_defaults_then_their_own_settings(tmp_path):
    hunchun, tongliang = load_config(write(tmp_path, GOOD))
    assert hunchun.urls == ("http://www.hunchun.gov.cn/zw_1910/tzgg/",)
    assert hunchun.settings.delay == 2.0 and hunchun.settings.max_pages == 5
    assert hunchun.settings.timeout == Settings().timeout
    assert tongliang.settings.delay == 0.5 and tongliang.settings.max_pages == 5
    assert tongliang.settings.body_selector == "div.TRS_Editor"
    assert tongliang.hosts == {"www.cqstl.gov.cn"}


@pytest.mark.parametrize("text, source, key, line, words", [
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"\n', None, None, 3, "not valid TOML"),
    ('[[sources]]\nurls = ["http://x.gov.cn/"]\n', "#1", "name", None, "missing `name`"),
    ('[[sources]]\nname = "a"\n', "a", "urls", None, "missing `urls`"),
    (('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\n[[sources]]\nname = "a"\n'
      'urls = ["http://y.gov.cn/"]\n'), "a", "name", 5, "duplicate"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\ndelya = 1\n', "a", "delya", 4, "unknown key"),
    ('[[sources]]\nname = "a"\nurls = ["ftp://x.gov.cn/"]\n', "a", "urls", 3, "not an http(s) URL"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\npages = ["http://u:secret@x.gov.cn/a.html"]\n',
     "a", "pages", 4, "credentials"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nschedule = "61 * * * *"\n', "a", "schedule",
     4, "cron"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nschedule = "daily"\n', "a", "schedule", 4,
     "five-field"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\ndelay = "fast"\n', "a", "delay", 4,
     "must be float"),
    ('[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nlink_pattern = "t2024("\n', "a",
     "link_pattern", 4, "regular expression"),
    ('[defaults]\nretries = -1\n[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\n', None,
     "retries", 2, "must be a whole number from 0 to 20"),
    ('[[sources]]\nname = "Bad Name"\nurls = ["http://x.gov.cn/"]\n', "Bad Name", "name", 2, "slug"),
])
def test_each_config_error_names_file_source_key_and_line(tmp_path, text, source, key, line, words):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    error = info.value
    assert (error.source, error.key, error.line) == (source, key, line)
    message = str(error)
    assert message.startswith(str(path)) and words in message
    if key:
        assert repr(key) in message


def test_crawl_exits_2_with_one_line_on_a_bad_config(tmp_path):
    path = write(tmp_path, '[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nmax_page = 3\n')
    result = CliRunner().invoke(cli, ["crawl", "--config", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert str(path) in result.output and "'max_page'" in result.output and "'a'" in result.output
    assert not (tmp_path / "a.db").exists()


def test_crawl_exits_2_on_an_unknown_source_name(tmp_path):
    path = write(tmp_path, GOOD)
    result = CliRunner().invoke(cli, ["crawl", "--config", str(path), "--source", "nope"])
    assert result.exit_code == 2 and "'nope'" in result.output and "hunchun-tzgg" in result.output


def test_environment_variables_override_default_paths(tmp_path, monkeypatch):
    monkeypatch.setenv("GOVARCHIVE_CONFIG", str(tmp_path / "missing.toml"))
    result = CliRunner().invoke(cli, ["crawl"])
    assert result.exit_code == 2 and "missing.toml" in result.output


def test_the_shipped_sources_toml_is_valid():
    sources = load_config(Path(__file__).parents[1] / "sources.toml")
    assert len(sources) >= 5


@pytest.mark.parametrize("schedule", ["0 3 * * 7", "0 3 * * sun-tue", "*/30 8-18 * * 1-5", "0 3 1,15 * *"])
def test_standard_cron_expressions_are_accepted(tmp_path, schedule):
    path = write(tmp_path, f'[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\nschedule = "{schedule}"\n')
    assert load_config(path)[0].settings.schedule == schedule


def test_credentials_in_a_url_are_refused_and_never_echoed(tmp_path):
    path = write(tmp_path, '[[sources]]\nname = "a"\nurls = ["http://admin:s3cret@x.gov.cn/col/"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert "credentials" in str(caught.value) and "s3cret" not in str(caught.value)
    assert "'http://x.gov.cn/col/'" in str(caught.value)


def test_source_urls_are_kept_in_canonical_form(tmp_path):
    (source,) = load_config(write(tmp_path, '[[sources]]\nname = "a"\n'
                                  'urls = ["HTTP://XN--MXTQ1M.XN--IO0A7I:80/col/#list"]\n'
                                  'pages = ["http://政府.网络:8080/a.html"]\n'))
    assert source.urls == ("http://xn--mxtq1m.xn--io0a7i/col/",)
    assert source.pages == ("http://xn--mxtq1m.xn--io0a7i:8080/a.html",)
    assert source.origins == ("http://xn--mxtq1m.xn--io0a7i", "http://xn--mxtq1m.xn--io0a7i:8080")


SOURCE = '[[sources]]\nname = "a"\nurls = ["http://x.gov.cn/"]\n'


@pytest.mark.parametrize("setting, words", [
    ("delay = inf", "must be a finite number"),
    ("delay = nan", "must be a finite number"),
    ("timeout = nan", "must be a finite number"),
    ("timeout = 0", "must be a number above 0 and at most 3600"),
    ("revisit_min_days = 1e300", "must be a number from 0 to 3650"),
    ("max_bytes = 0", "must be a whole number from 1 to 1000000000"),
    ("retries = -1", "must be a whole number from 0 to 20"),
    ("delay = -1", "must be a number from 0 to 3600"),
])
def test_numbers_out_of_their_bounds_are_config_errors(tmp_path, setting, words):
    path = write(tmp_path, SOURCE + setting + "\n")
    result = CliRunner().invoke(cli, ["crawl", "--config", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and words in result.output and ":4:" in result.output
    assert not (tmp_path / "a.db").exists()


def test_zero_is_accepted_where_the_message_does_not_say_positive(tmp_path):
    source, = load_config(write(tmp_path, SOURCE + "delay = 0\nretries = 0\nmax_documents = 0\njitter = 0\n"))
    assert (source.settings.delay, source.settings.retries, source.settings.max_documents) == (0, 0, 0)


def test_an_error_in_the_second_source_is_reported_at_its_own_line(tmp_path):
    text = ("[defaults]\ndelay = 1\n\n[[sources]]\nname = \"a\"\nurls = [\"http://x.gov.cn/\"]\ndelay = 2\n\n"
            "[[sources]]\nname = \"b\"\nurls = [\"http://x.gov.cn/\"]\ndelay = -1\n")
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    assert (info.value.source, info.value.key, info.value.line) == ("b", "delay", 12)


def test_an_unknown_key_gets_the_nearest_known_one(tmp_path):
    path = write(tmp_path, SOURCE + "max_page = 3\n")
    result = CliRunner().invoke(cli, ["crawl", "--config", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2 and "did you mean max_pages?" in result.output


def test_deeply_nested_toml_is_a_config_error_not_a_traceback(tmp_path):
    path = write(tmp_path, SOURCE + "pages = " + "[" * 5000 + "]" * 5000 + "\n")
    result = CliRunner().invoke(cli, ["crawl", "--config", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2 and result.output.count("\n") == 1 and "nested too deeply" in result.output


def test_a_cron_that_never_fires_is_a_config_error(tmp_path):
    path = write(tmp_path, SOURCE + 'schedule = "0 0 30 2 *"\n')
    result = CliRunner().invoke(cli, ["schedule", "--config", str(path), "--db", str(tmp_path / "a.db")])
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and "never fires" in result.output and ":4:" in result.output


def test_a_bad_tz_is_a_config_error_for_schedule(tmp_path):
    path = write(tmp_path, SOURCE)
    result = subprocess.run([sys.executable, "-m", "crawler", "schedule", "--config", str(path), "--db",
                             str(tmp_path / "a.db")], capture_output=True, text=True, timeout=60, check=False,
                            env={**os.environ, "TZ": "Mars/Olympus_Mons"})
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == "error: $TZ: 'Mars/Olympus_Mons' is not a time zone (use a name such as " \
        "Asia/Shanghai)"
