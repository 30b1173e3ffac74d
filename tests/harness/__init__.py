"""Test harness: loopback servers, feed renderers and the Peru article fixture.

Everything here talks only to 127.0.0.1 servers that it starts itself, on free ports.
"""

from harness.article import load_article, unrelated_items
from harness.feeds import atom, rss
from harness.servers import (
    FeedServer,
    ReceivedMail,
    Reply,
    Request,
    SmtpServer,
    WebhookReceiver,
    WebhookRequest,
)

__all__ = [
    "FeedServer",
    "ReceivedMail",
    "Reply",
    "Request",
    "SmtpServer",
    "WebhookReceiver",
    "WebhookRequest",
    "atom",
    "load_article",
    "rss",
    "unrelated_items",
]
