"""config.parse_config: every error is FILE:LINE: KEY: message; a valid file becomes Config."""

from __future__ import annotations

import base64
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from feedwatch.config import Config, EmailSpec, WebhookSpec, parse_config
from feedwatch.errors import ConfigError

SOURCE = "conf/feeds.yaml"
SECRET_32 = "whsec_" + base64.b64encode(bytes(range(32))).decode()
EMAIL = "{type: email, to: a@example.org, from: fw@example.org, smtp: {host: mail.example.org}}"


def parse(text: str, env: dict[str, str] | None = None, source: str = SOURCE) -> Config:
    return parse_config(textwrap.dedent(text).lstrip("\n"), source, env or {})


def error(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse(text, env)
    return info.value


def secret_of(n: int) -> str:
    return "whsec_" + base64.b64encode(b"k" * n).decode()


# --- errors: file, line, key ---------------------------------------------------------------

ERRORS = [
    pytest.param(
        """
        feeds:
          - https://a.example.org/f
          - url: https://b.example.org/f
          - url: https://c.example.org/f
            intervall: 5m
        """,
        {},
        5,
        "feeds.2.intervall",
        "unknown key",
        id="unknown-key-in-third-feed",
    ),
    pytest.param(
        """
        databse: x.db
        """,
        {},
        1,
        "databse",
        "unknown key",
        id="unknown-top-level-key",
    ),
    pytest.param(
        """
        defaults:
          interval: 15
        """,
        {},
        2,
        "defaults.interval",
        "not a duration",
        id="duration-without-suffix",
    ),
    pytest.param(
        """
        defaults:
          timeout: 10 minutes
        """,
        {},
        2,
        "defaults.timeout",
        "not a duration",
        id="duration-with-word-suffix",
    ),
    pytest.param(
        """
        feeds:
          - url: https://a.example.org/f
            interval: 0s
        """,
        {},
        3,
        "feeds.0.interval",
        "positive",
        id="duration-zero",
    ),
    pytest.param(
        """
        feeds:
          - url: https://a.example.org/f
            interval: -5m
        """,
        {},
        3,
        "feeds.0.interval",
        "not a duration",
        id="duration-negative",
    ),
    pytest.param(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp: {host: m.example.org}
            retry: {first: soon}
        """,
        {},
        7,
        "notifiers.me.retry.first",
        "not a duration",
        id="duration-in-retry",
    ),
    pytest.param(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp:
              host: m.example.org
              username: bot
              password: "${SMTP_PASSWORD}"
        """,
        {},
        9,
        "notifiers.me.smtp.password",
        "SMTP_PASSWORD is not set",
        id="unset-env-var",
    ),
    pytest.param(
        """
        feeds:
          - "https://a.example.org/${}"
        """,
        {},
        2,
        "feeds.0",
        "not a valid variable name",
        id="empty-env-var-name",
    ),
    pytest.param(
        """
        notifiers:
          hook:
            type: webhook
            url: https://hooks.example.org/fw
            secret: "${WEBHOOK_SECRET}"
        """,
        {"WEBHOOK_SECRET": "not-a-secret"},
        5,
        "notifiers.hook.secret",
        "whsec_",
        id="secret-without-prefix",
    ),
    pytest.param(
        """
        notifiers:
          hook:
            type: webhook
            url: https://hooks.example.org/fw
            secret: whsec_!!!not*base64
        """,
        {},
        5,
        "notifiers.hook.secret",
        "base64",
        id="secret-not-base64",
    ),
    pytest.param(
        f"""
        notifiers:
          hook:
            type: webhook
            url: https://hooks.example.org/fw
            secret: "{secret_of(23)}"
        """,
        {},
        5,
        "notifiers.hook.secret",
        "23 bytes",
        id="secret-23-bytes",
    ),
    pytest.param(
        f"""
        notifiers:
          hook:
            type: webhook
            url: https://hooks.example.org/fw
            secret: "{secret_of(65)}"
        """,
        {},
        5,
        "notifiers.hook.secret",
        "65 bytes",
        id="secret-65-bytes",
    ),
    pytest.param(
        f"""
        notifiers:
          webhook:
            type: webhook
            url: https://hooks.example.org/fw
            secret: "{secret_of(8)}"
        """,
        {},
        5,
        "notifiers.webhook.secret",
        "8 bytes",
        id="secret-of-notifier-named-webhook",
    ),
    pytest.param(
        """
        notifiers:
          hook:
            type: webhook
            url: ftp://hooks.example.org/fw
        """,
        {},
        4,
        "notifiers.hook.url",
        "not an http or https URL",
        id="webhook-url-not-http",
    ),
    pytest.param(
        f"""
        alerts:
          - name: r
            keywords: [Peru]
            notify: [me, nope]
        notifiers:
          me: {EMAIL}
        """,
        {},
        4,
        "alerts.0.notify.1",
        "no notifier is named 'nope'",
        id="notify-unknown-notifier",
    ),
    pytest.param(
        """
        alerts:
          - name: r
            keywords: [Peru]
            notify: me
        """,
        {},
        4,
        "alerts.0.notify.0",
        "no notifier is named 'me'",
        id="notify-when-no-notifiers",
    ),
    pytest.param(
        """
        alerts:
          - name: r
            keywords: [Peru]
          - name: r
            keywords: [Chile]
        """,
        {},
        4,
        "alerts.1.name",
        "another rule",
        id="duplicate-rule-name",
    ),
    pytest.param(
        """
        alerts:
          - name: r
            keywords: ["--"]
        """,
        {},
        3,
        "alerts.0.keywords",
        "no letter or digit",
        id="keyword-without-letters",
    ),
    pytest.param(
        """
        feeds:
          - https://a.example.org/f
          - url: https://a.example.org/f
        """,
        {},
        3,
        "feeds.1.url",
        "same feed as feeds.0",
        id="duplicate-feed-url",
    ),
    pytest.param(
        """
        feeds:
          - url: https://a.example.org/f
            name: A
          - url: https://b.example.org/f
            name: A
        """,
        {},
        5,
        "feeds.1.name",
        "feeds.0",
        id="duplicate-feed-name",
    ),
    pytest.param(
        """
        feeds:
          - name: no url
        """,
        {},
        2,
        "feeds.0.url",
        "required key is missing",
        id="feed-without-url",
    ),
    pytest.param(
        """
        feeds:
          - url: https://a.example.org/f
            url: https://b.example.org/f
        """,
        {},
        3,
        "feeds.0.url",
        "twice",
        id="yaml-key-twice",
    ),
    pytest.param(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp: {host: m.example.org, password: x}
        """,
        {},
        6,
        "notifiers.me.smtp",
        "username",
        id="smtp-password-without-username",
    ),
    pytest.param(
        """
        notifiers:
          me:
            type: email
            to: nobody
            from: fw@example.org
            smtp: {host: m.example.org}
        """,
        {},
        4,
        "notifiers.me.to",
        "not an email address",
        id="email-to-not-an-address",
    ),
    pytest.param(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp: {host: m.example.org, security: ssl}
        """,
        {},
        6,
        "notifiers.me.smtp.security",
        "",
        id="smtp-security-unknown",
    ),
    pytest.param(
        """
        notifiers:
          me:
            to: a@example.org
        """,
        {},
        2,
        "notifiers.me.type",
        "type is missing",
        id="notifier-without-type",
    ),
]


@pytest.mark.parametrize(("text", "env", "line", "key", "fragment"), ERRORS)
def test_error_names_file_line_and_key(
    text: str, env: dict[str, str], line: int, key: str, fragment: str
) -> None:
    err = error(text, env)
    assert (err.source, err.line, err.key) == (SOURCE, line, key)
    assert fragment in err.message
    assert str(err).startswith(f"{SOURCE}:{line}: {key}: ")


def test_error_for_misspelt_notifier_type_names_the_type_key() -> None:
    err = error(
        """
        notifiers:
          me:
            to: a@example.org
            type: emial
        """
    )
    assert (err.line, err.key) == (4, "notifiers.me.type")
    assert "'emial'" in err.message


FILE_ERRORS = [
    pytest.param("feeds: [\n  https://a.example.org\n", 3, "not valid YAML", id="yaml-unclosed"),
    pytest.param("feeds:\n  - a\n bad: [\n", 3, "not valid YAML", id="yaml-bad-indent"),
    pytest.param("", 1, "empty", id="empty-file"),
    pytest.param("# only a comment\n\n", 1, "empty", id="comment-only-file"),
    pytest.param("- a\n- b\n", 1, "mapping", id="top-level-list"),
]


@pytest.mark.parametrize(("text", "line", "fragment"), FILE_ERRORS)
def test_whole_file_error_names_file_and_line(text: str, line: int, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(text, SOURCE, {})
    err = info.value
    assert (err.source, err.line) == (SOURCE, line)
    assert fragment in err.message
    assert str(err).startswith(f"{SOURCE}:{line}: ")


def test_several_errors_are_all_reported() -> None:
    err = error(
        """
        feeds:
          - url: https://a.example.org/f
            intervall: 5m
          - url: https://b.example.org/f
            timout: 5s
        """
    )
    text = str(err)
    assert text.startswith(f"{SOURCE}:3: feeds.0.intervall: unknown key")
    assert f"{SOURCE}:5: feeds.1.timout: unknown key" in text


# --- valid files ---------------------------------------------------------------------------

ENV_CASES = [
    pytest.param(
        "https://${HOST}/feed.xml", {"HOST": "a.example.org"}, "https://a.example.org/feed.xml",
        id="whole-host",
    ),
    pytest.param(
        "https://a.example.org/${P}?q=${Q}", {"P": "x", "Q": "1"}, "https://a.example.org/x?q=1",
        id="two-vars-in-one-value",
    ),
    pytest.param(
        "https://a.example.org/${P}", {"P": "${Q}"}, "https://a.example.org/${Q}",
        id="value-not-expanded-twice",
    ),
]  # fmt: skip


@pytest.mark.parametrize(("url", "env", "expected"), ENV_CASES)
def test_env_var_expansion(url: str, env: dict[str, str], expected: str) -> None:
    config = parse(f'feeds:\n  - "{url}"\n', env)
    assert config.feeds[0].url == expected


def test_env_var_set_to_empty_string_is_used() -> None:
    config = parse(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp: {host: m.example.org, username: bot, password: "${PW}"}
        """,
        {"PW": ""},
    )
    spec = config.notifiers["me"]
    assert isinstance(spec, EmailSpec)
    assert spec.smtp.password == ""


def test_env_var_in_a_number() -> None:
    config = parse(
        """
        notifiers:
          me:
            type: email
            to: a@example.org
            from: fw@example.org
            smtp: {host: m.example.org, port: "${PORT}"}
        """,
        {"PORT": "2525"},
    )
    spec = config.notifiers["me"]
    assert isinstance(spec, EmailSpec)
    assert spec.smtp.port == 2525


@pytest.mark.parametrize(
    ("smtp", "port"),
    [
        pytest.param("{host: m}", 587, id="default-security-starttls"),
        pytest.param("{host: m, security: starttls}", 587, id="starttls"),
        pytest.param("{host: m, security: tls}", 465, id="tls"),
        pytest.param("{host: m, security: none}", 25, id="none"),
        pytest.param("{host: m, security: tls, port: 2465}", 2465, id="explicit-port-kept"),
    ],
)
def test_smtp_port_defaults_per_security(smtp: str, port: int) -> None:
    config = parse(
        f"""
        notifiers:
          me: {{type: email, to: a@example.org, from: fw@example.org, smtp: {smtp}}}
        """
    )
    spec = config.notifiers["me"]
    assert isinstance(spec, EmailSpec)
    assert spec.smtp.port == port


@pytest.mark.parametrize(
    "n", [pytest.param(24, id="24-bytes"), pytest.param(64, id="64-bytes")]
)  # fmt: skip
def test_webhook_secret_accepted_at_the_bounds(n: int) -> None:
    secret = secret_of(n)
    config = parse(
        f"""
        notifiers:
          hook: {{type: webhook, url: "https://hooks.example.org/", secret: "{secret}"}}
        """
    )
    spec = config.notifiers["hook"]
    assert isinstance(spec, WebhookSpec)
    assert spec.secret == secret
    assert spec.timeout == timedelta(seconds=10)


def test_webhook_retry_defaults() -> None:
    config = parse("notifiers:\n  hook: {type: webhook, url: 'https://h.example.org/'}\n")
    spec = config.notifiers["hook"]
    assert (spec.retry.first, spec.retry.max, spec.retry.give_up) == (
        timedelta(seconds=30),
        timedelta(hours=1),
        timedelta(hours=24),
    )


def test_bare_url_feeds_and_defaults_merged_per_feed() -> None:
    config = parse(
        """
        defaults:
          interval: 1h
          timeout: 5s
        feeds:
          - https://a.example.org/feed.xml
          - url: https://b.example.org/atom.xml
            name: B
            interval: 90s
          - url: https://c.example.org/rss
            timeout: 1.5m
        """
    )
    got = [(f.url, f.name, f.interval, f.timeout) for f in config.feeds]
    assert got == [
        ("https://a.example.org/feed.xml", None, timedelta(hours=1), timedelta(seconds=5)),
        ("https://b.example.org/atom.xml", "B", timedelta(seconds=90), timedelta(seconds=5)),
        ("https://c.example.org/rss", None, timedelta(hours=1), timedelta(seconds=90)),
    ]
    assert config.feed("B") is config.feeds[1]
    assert config.feed("https://a.example.org/feed.xml") is config.feeds[0]
    assert config.feed("nope") is None


def test_builtin_defaults_without_defaults_section() -> None:
    config = parse("feeds: [https://a.example.org/f]\n")
    assert config.feeds[0].interval == timedelta(minutes=15)
    assert config.feeds[0].timeout == timedelta(seconds=30)


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        pytest.param("45s", timedelta(seconds=45), id="seconds"),
        pytest.param("15m", timedelta(minutes=15), id="minutes"),
        pytest.param("2h", timedelta(hours=2), id="hours"),
        pytest.param("1d", timedelta(days=1), id="days"),
        pytest.param("1.5h", timedelta(minutes=90), id="fraction"),
    ],
)
def test_duration_suffixes(duration: str, expected: timedelta) -> None:
    config = parse(f"defaults: {{interval: {duration}}}\nfeeds: [https://a.example.org/f]\n")
    assert config.feeds[0].interval == expected


@pytest.mark.parametrize(
    ("source", "database", "expected"),
    [
        pytest.param("conf/feeds.yaml", None, Path("conf/feedwatch.db"), id="default-beside"),
        pytest.param("conf/feeds.yaml", "data/fw.db", Path("conf/data/fw.db"), id="relative"),
        pytest.param("/etc/fw/feeds.yaml", "fw.db", Path("/etc/fw/fw.db"), id="absolute-source"),
        pytest.param("conf/feeds.yaml", "/var/lib/fw.db", Path("/var/lib/fw.db"), id="absolute"),
        pytest.param("feeds.yaml", None, Path("feedwatch.db"), id="bare-source"),
    ],
)
def test_database_path_resolved_beside_the_file(
    source: str, database: str | None, expected: Path
) -> None:
    text = f"database: {database}\n" if database else "feeds: []\n"
    assert parse(text, source=source).database == expected


def test_no_notifiers_means_rules_notify_stdout() -> None:
    config = parse(
        """
        alerts:
          - name: r
            keywords: [Peru, Canada, mining]
        """
    )
    assert config.alerts[0].notify == ("stdout",)
    assert config.alerts[0].keywords == ("Peru", "Canada", "mining")


@pytest.mark.parametrize(
    ("notify", "expected"),
    [
        pytest.param("", ("me", "hook"), id="omitted-means-every-notifier"),
        pytest.param("notify: [hook]", ("hook",), id="one"),
        pytest.param("notify: hook", ("hook",), id="scalar"),
        pytest.param("notify: [hook, me, hook]", ("hook", "me"), id="repeat-dropped"),
    ],
)
def test_rule_notify(notify: str, expected: tuple[str, ...]) -> None:
    config = parse(
        f"""
        alerts:
          - name: r
            keywords: Peru
            {notify}
        notifiers:
          me: {EMAIL}
          hook: {{type: webhook, url: "https://hooks.example.org/"}}
        """
    )
    assert config.alerts[0].notify == expected
    assert config.alerts[0].keywords == ("Peru",)
