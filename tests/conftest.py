"""Shared fixtures: loopback feed server, webhook receiver and SMTP server.

The helpers live in tests/harness/, imported as the top-level package `harness`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

# pytest's default "prepend" import mode already puts tests/ (no __init__.py) on sys.path
# when it loads this file; do it ourselves too so that `harness` also imports under
# --import-mode=importlib and from tools that load this conftest directly.
_TESTS_DIR = str(Path(__file__).resolve().parent)
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

import pytest  # noqa: E402

from harness.servers import FeedServer, SmtpServer, WebhookReceiver  # noqa: E402


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    """A FeedServer on 127.0.0.1, closed after the test."""
    with FeedServer() as server:
        yield server


@pytest.fixture
def webhook_receiver() -> Iterator[WebhookReceiver]:
    """A WebhookReceiver on 127.0.0.1 answering 200, closed after the test."""
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SmtpServer on 127.0.0.1 without AUTH, closed after the test."""
    with SmtpServer() as server:
        yield server
