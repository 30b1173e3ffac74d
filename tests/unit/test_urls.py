"""urls.canonical_link: the same article under a decorated link is the same link."""

from __future__ import annotations

import pytest

from feedwatch.urls import canonical_link, is_tracking_param


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        pytest.param("https://example.org/a", "https://example.org/a", id="already-canonical"),
        pytest.param("HTTPS://EXAMPLE.ORG/a", "https://example.org/a", id="scheme-host-case"),
        pytest.param("https://example.org/A/B", "https://example.org/A/B", id="path-case-kept"),
        pytest.param("https://example.org:443/a", "https://example.org/a", id="https-port-443"),
        pytest.param("http://example.org:80/a", "http://example.org/a", id="http-port-80"),
        pytest.param("http://example.org:443/a", "http://example.org:443/a", id="443-on-http"),
        pytest.param("https://example.org:8443/a", "https://example.org:8443/a", id="other-port"),
        pytest.param("https://example.org/a#comments", "https://example.org/a", id="fragment"),
        pytest.param("https://example.org", "https://example.org/", id="empty-path"),
        pytest.param("https://example.org./a", "https://example.org/a", id="trailing-dot"),
        pytest.param("  https://example.org/a  ", "https://example.org/a", id="whitespace"),
        pytest.param(
            "https://example.org/a?utm_source=rss&utm_medium=feed&utm_campaign=x",
            "https://example.org/a", id="utm-params",
        ),
        pytest.param(
            "https://example.org/a?UTM_Source=rss", "https://example.org/a", id="utm-case"
        ),
        pytest.param("https://example.org/a?fbclid=abc", "https://example.org/a", id="fbclid"),
        pytest.param("https://example.org/a?gclid=abc", "https://example.org/a", id="gclid"),
        pytest.param(
            "https://example.org/a?id=7&utm_source=rss&page=2",
            "https://example.org/a?id=7&page=2", id="other-params-kept",
        ),
        pytest.param(
            "https://example.org/a?page=2&id=7", "https://example.org/a?id=7&page=2",
            id="params-sorted",
        ),
        pytest.param(
            "https://example.org/a?utmost=1", "https://example.org/a?utmost=1",
            id="utm-without-underscore-kept",
        ),
        pytest.param("http://[::1]:80/x", "http://[::1]/x", id="ipv6-default-port"),
        pytest.param(
            "http://[2001:DB8::1]:8080/x", "http://[2001:db8::1]:8080/x", id="ipv6-port-kept",
        ),
        pytest.param(
            "https://User:Pw@Example.org/a", "https://User:Pw@example.org/a", id="userinfo-kept",
        ),
        pytest.param("not a url", "not a url", id="garbage-unchanged"),
        pytest.param("http://[::1", "http://[::1", id="broken-ipv6-unchanged"),
        pytest.param(
            "http://example.org:99999/", "http://example.org:99999/", id="bad-port-unchanged",
        ),
        pytest.param("", "", id="empty"),
    ],
)  # fmt: skip
def test_canonical_link(url: str, expected: str) -> None:
    assert canonical_link(url) == expected


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param(
            "https://News.Example.org:443/story?id=1#top",
            "https://news.example.org/story?utm_source=twitter&id=1&fbclid=XYZ",
            id="decorated-variants",
        ),
        pytest.param(
            "https://example.org/s?a=x%20y", "https://example.org/s?a=x+y", id="space-encodings",
        ),
    ],
)  # fmt: skip
def test_same_article_same_canonical_link(a: str, b: str) -> None:
    assert canonical_link(a) == canonical_link(b)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        pytest.param("https://example.org/a", "https://example.org/b", id="path"),
        pytest.param("https://example.org/a?id=1", "https://example.org/a?id=2", id="param"),
        pytest.param("http://example.org/a", "https://example.org/a", id="scheme"),
        pytest.param("https://example.org/a", "https://example.org/A", id="path-case"),
    ],
)
def test_different_articles_stay_different(a: str, b: str) -> None:
    assert canonical_link(a) != canonical_link(b)


@pytest.mark.parametrize(
    ("name", "tracking"),
    [
        pytest.param("utm_source", True, id="utm_source"),
        pytest.param("utm_anything", True, id="utm-prefix"),
        pytest.param("FBCLID", True, id="fbclid-upper"),
        pytest.param("gclid", True, id="gclid"),
        pytest.param("id", False, id="id"),
        pytest.param("page", False, id="page"),
    ],
)
def test_is_tracking_param(name: str, tracking: bool) -> None:
    assert is_tracking_param(name) is tracking
