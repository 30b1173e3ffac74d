"""`feedwatch check`: exit 0 for a good config, 2 with FILE:LINE: KEY: for a bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from .conftest import Feedwatch

GOOD = """\
database: watch.db
feeds:
  - https://example.org/feed.xml
  - url: https://example.com/atom.xml
    name: Example
    interval: 1h
alerts:
  - name: peru-canada-mining
    keywords: [Peru, Canada, mining]
    notify: [me, hook]
notifiers:
  me:
    type: email
    to: [alerts@example.org]
    from: feedwatch@example.org
    smtp: {host: mail.example.org, port: 587, security: starttls, username: bot,
           password: "${SMTP_PASSWORD}"}
  hook:
    type: webhook
    url: https://hooks.example.org/feedwatch
    secret: "${WEBHOOK_SECRET}"
"""
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
ENV = {"SMTP_PASSWORD": "pw", "WEBHOOK_SECRET": SECRET}


def test_check_accepts_the_spec_example_and_touches_nothing(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(GOOD)
    result = Feedwatch(config, ENV)("check")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert not (tmp_path / "watch.db").exists(), "check must not create the database"


@pytest.mark.parametrize(
    ("change", "env", "expected"),
    [
        pytest.param(
            ("    interval: 1h\n", "    intervall: 1h\n"), ENV,
            ":6: feeds.1.intervall: unknown key", id="typo-in-key",
        ),
        pytest.param(
            ("    interval: 1h\n", "    interval: 1 hour\n"), ENV,
            ":6: feeds.1.interval: ", id="bad-duration",
        ),
        pytest.param(
            ("", ""), {"SMTP_PASSWORD": "pw"},
            ":21: notifiers.hook.secret: environment variable WEBHOOK_SECRET is not set",
            id="unset-variable",
        ),
        pytest.param(
            ("", ""), {**ENV, "WEBHOOK_SECRET": "not-a-secret"},
            ":21: notifiers.hook.secret: ", id="secret-not-whsec",
        ),
        pytest.param(
            ("notify: [me, hook]", "notify: [me, hooks]"), ENV,
            ":10: alerts.0.notify.1: no notifier is named 'hooks'", id="unknown-notifier",
        ),
        pytest.param(
            ("security: starttls", "security: ssl"), ENV,
            ":16: notifiers.me.smtp.security: ", id="bad-security",
        ),
    ],
)  # fmt: skip
def test_check_reports_file_line_and_key(
    tmp_path: Path, change: tuple[str, str], env: dict[str, str], expected: str
) -> None:
    config = tmp_path / "feeds.yaml"
    text = GOOD.replace(change[0], change[1], 1) if change[0] else GOOD
    config.write_text(text)
    result = Feedwatch(config, env)("check")
    assert result.returncode == 2
    assert f"{config}{expected}" in result.stderr


def test_missing_config_file_exits_2(tmp_path: Path) -> None:
    result = Feedwatch(tmp_path / "nope.yaml")("check")
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr


def test_feedwatch_config_variable_names_the_file(tmp_path: Path) -> None:
    config = tmp_path / "elsewhere.yaml"
    config.write_text(GOOD)
    import subprocess

    from .conftest import FEEDWATCH

    result = subprocess.run(
        [FEEDWATCH, "check"],
        capture_output=True,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin", "FEEDWATCH_CONFIG": str(config)},
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "elsewhere.yaml" in result.stdout


def test_bad_usage_exits_2(tmp_path: Path) -> None:
    config = tmp_path / "feeds.yaml"
    config.write_text(GOOD)
    runner = Feedwatch(config, ENV)
    assert runner("frobnicate").returncode == 2
    assert runner("items", "--limit", "zero").returncode == 2
