"""feeds.yaml into a frozen, validated Config.

Pure: the text and the environment are parameters; ``load`` at the bottom is the only code that
opens a file. Every failure is a ConfigError naming file, line and key (SPEC: feeds.yaml).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from feedwatch.errors import ConfigError
from feedwatch.query import Node, QueryError, keywords_query, parse_query

DEFAULT_INTERVAL = timedelta(minutes=15)
DEFAULT_FEED_TIMEOUT = timedelta(seconds=30)
DEFAULT_WEBHOOK_TIMEOUT = timedelta(seconds=10)
DEFAULT_SMTP_TIMEOUT = timedelta(seconds=30)
SMTP_PORTS = {"none": 25, "starttls": 587, "tls": 465}
# With no notifier configured, alerts go to stdout through a built-in notifier of this name.
STDOUT_NOTIFIER = "stdout"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_ENV_REF = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

Path_ = tuple[str | int, ...]


def parse_duration(value: object) -> timedelta:
    """``15m`` into a timedelta: a positive number with an s, m, h or d suffix."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a duration is a number with an s, m, h or d suffix, such as 15m")
    match = _DURATION.match(str(value))
    if match is None:
        raise ValueError(
            f"{value!r} is not a duration: use a number with s, m, h or d, such as 15m"
        )
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError("a duration must be positive")
    return timedelta(seconds=seconds)


Duration = Annotated[timedelta, BeforeValidator(parse_duration)]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb|kib|mib|gib)?\s*$", re.I)
_SIZE_UNITS = {
    "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "kib": 1024, "mib": 1024**2, "gib": 1024**3
}  # fmt: skip
DEFAULT_MAX_BODY = 10 * 1000 * 1000


def parse_size(value: object) -> int:
    """``10MB`` (or ``500KB``, ``2MiB``, a plain number of bytes) into bytes."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError("a size is a number of bytes, or a number with KB, MB or GB")
    match = _SIZE.match(str(value))
    if match is None:
        raise ValueError(f"{value!r} is not a size: use bytes, or a number with KB, MB or GB")
    size = int(float(match.group(1)) * _SIZE_UNITS[(match.group(2) or "b").lower()])
    if size <= 0:
        raise ValueError("a size must be positive")
    return size


Size = Annotated[int, BeforeValidator(parse_size)]


def _check_http_url(value: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{value!r} is not an http or https URL")
    return value.strip()


HttpUrl = Annotated[str, BeforeValidator(lambda v: _check_http_url(v) if isinstance(v, str) else v)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class RetrySpec(_Model):
    """SPEC: waits of ``first``, doubling up to ``max``; nothing starts after ``give_up``."""

    first: Duration = timedelta(seconds=30)
    max: Duration = timedelta(hours=1)
    give_up: Duration = timedelta(hours=24)


class SmtpSpec(_Model):
    """How to reach the mail server."""

    host: str
    port: int = Field(default=0, ge=0, le=65535)
    security: Literal["none", "starttls", "tls"] = "starttls"
    username: str | None = None
    password: str | None = None
    timeout: Duration = DEFAULT_SMTP_TIMEOUT

    @model_validator(mode="after")
    def _default_port(self) -> SmtpSpec:
        if self.port == 0:
            object.__setattr__(self, "port", SMTP_PORTS[self.security])
        if self.password is not None and self.username is None:
            raise ValueError("password is set but username is not")
        return self


def _as_list(value: object) -> object:
    return [value] if isinstance(value, str) else value


class EmailSpec(_Model):
    """An email notifier (SPEC: notifiers, type email)."""

    type: Literal["email"]
    to: Annotated[list[str], BeforeValidator(_as_list), Field(min_length=1)]
    from_: str = Field(alias="from")
    smtp: SmtpSpec
    digest: Duration | None = None
    retry: RetrySpec = RetrySpec()

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            _check_address(address)
        return value

    @field_validator("from_")
    @classmethod
    def _from_address(cls, value: str) -> str:
        return _check_address(value)


def _check_address(value: str) -> str:
    if "@" not in value or any(c in value for c in "\r\n"):
        raise ValueError(f"{value!r} is not an email address")
    return value


def _check_secret(value: str) -> str:
    if not value.startswith("whsec_"):
        raise ValueError("a webhook secret is written whsec_<base64 of 24 to 64 random bytes>")
    try:
        key = base64.b64decode(value.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError) as e:
        raise ValueError("the part after whsec_ is not valid base64") from e
    if not 24 <= len(key) <= 64:
        raise ValueError(f"the secret holds {len(key)} bytes; it must hold 24 to 64")
    return value


class WebhookSpec(_Model):
    """A webhook notifier (SPEC: webhook request)."""

    type: Literal["webhook"]
    url: HttpUrl
    format: Literal["json", "slack", "discord", "ntfy"] = "json"
    secret: str | None = None
    timeout: Duration = DEFAULT_WEBHOOK_TIMEOUT
    retry: RetrySpec = RetrySpec()

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: str | None) -> str | None:
        return None if value is None else _check_secret(value)


NotifierSpec = Annotated[EmailSpec | WebhookSpec, Field(discriminator="type")]


class _DefaultsModel(_Model):
    interval: Duration = DEFAULT_INTERVAL
    timeout: Duration = DEFAULT_FEED_TIMEOUT
    max_body: Size = DEFAULT_MAX_BODY


class _FeedModel(_Model):
    url: HttpUrl
    name: str | None = None
    interval: Duration | None = None
    timeout: Duration | None = None
    max_body: Size | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_url(cls, value: object) -> object:
        return {"url": value} if isinstance(value, str) else value


class _RuleModel(_Model):
    name: str = Field(min_length=1)
    keywords: Annotated[list[str] | None, BeforeValidator(_as_list), Field(min_length=1)] = None
    query: str | None = Field(default=None, min_length=1)
    notify: Annotated[list[str] | None, BeforeValidator(_as_list), Field(min_length=1)] = None

    @field_validator("keywords")
    @classmethod
    def _words(cls, value: list[str] | None) -> list[str] | None:
        for keyword in value or ():
            if not any(c.isalnum() for c in keyword):
                raise ValueError(f"keyword {keyword!r} has no letter or digit to match")
        return value

    @model_validator(mode="after")
    def _one_of(self) -> _RuleModel:
        if (self.keywords is None) == (self.query is None):
            raise ValueError("a rule takes either keywords or query, not both and not neither")
        return self


class _ConfigModel(_Model):
    database: str = "feedwatch.db"
    defaults: _DefaultsModel = _DefaultsModel()
    feeds: list[_FeedModel] = []
    alerts: list[_RuleModel] = []
    notifiers: dict[str, NotifierSpec] = {}


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """A feed with its defaults already merged."""

    url: str
    name: str | None
    interval: timedelta
    timeout: timedelta
    max_body: int = DEFAULT_MAX_BODY


@dataclass(frozen=True, slots=True)
class AlertRule:
    """A rule: a query (``keywords: [a, b]`` is the query ``"a" OR "b"``), sent to the named
    notifiers (``stdout`` when the config has none)."""

    name: str
    keywords: tuple[str, ...]
    notify: tuple[str, ...]
    query: Node | None = None  # parsed from ``query:``; None for the keywords form
    query_text: str | None = None

    @property
    def expression(self) -> Node:
        """The rule's query, whichever form it was written in."""
        return self.query if self.query is not None else keywords_query(self.keywords)


@dataclass(frozen=True, slots=True)
class Config:
    """The whole validated configuration."""

    source: str
    database: Path
    feeds: tuple[FeedSpec, ...]
    alerts: tuple[AlertRule, ...]
    notifiers: Mapping[str, EmailSpec | WebhookSpec]

    def feed(self, name_or_url: str) -> FeedSpec | None:
        """The feed with this configured name or URL."""
        for feed in self.feeds:
            if name_or_url in (feed.url, feed.name):
                return feed
        return None


class _Tree:
    """A YAML document turned into plain values, remembering the line of every key path."""

    def __init__(self, source: str, env: Mapping[str, str]) -> None:
        self.source = source
        self.env = env
        self.lines: dict[Path_, int] = {}
        self._scalars = yaml.SafeLoader("")

    def build(self, node: yaml.Node, path: Path_) -> Any:
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*path, i)) for i, child in enumerate(node.value)]
        value = self._scalars.construct_object(node, deep=True)
        return self._expand(value, node, path) if isinstance(value, str) else value

    def _mapping(self, node: yaml.MappingNode, path: Path_) -> dict[str, Any]:
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = self._scalars.construct_object(key_node, deep=True)
            if key == "<<" or not isinstance(key, str | int):
                raise self.error(key_node, path, f"unsupported key {key!r}")
            key = str(key)
            child = (*path, key)
            if key in result:
                raise self.error(key_node, child, "key appears twice")
            self.lines[child] = key_node.start_mark.line + 1
            result[key] = self.build(value_node, child)
        return result

    def _expand(self, value: str, node: yaml.Node, path: Path_) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if not _ENV_NAME.match(name):
                raise self.error(node, path, f"${{{name}}} is not a valid variable name")
            if name not in self.env:
                raise self.error(node, path, f"environment variable {name} is not set")
            return self.env[name]

        return _ENV_REF.sub(replace, value)

    def error(self, node: yaml.Node, path: Path_, message: str) -> ConfigError:
        return ConfigError(message, self.source, node.start_mark.line + 1, _key(path))

    def line_of(self, path: Path_) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _key(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _loc_to_path(loc: tuple[int | str, ...]) -> Path_:
    path = list(loc)
    # a discriminated union puts its tag in the location: notifiers.hook.webhook.secret
    if len(path) >= 3 and path[0] == "notifiers" and path[2] in ("email", "webhook"):
        del path[2]
    return tuple("from" if p == "from_" else p for p in path)


def _message(error: Mapping[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    if kind == "union_tag_invalid":
        return f"type must be email or webhook, not {error['input'].get('type')!r}"
    if kind == "union_tag_not_found":
        return "type is missing: email or webhook"
    text = str(error["msg"]).removeprefix("Value error, ")
    return text[:1].lower() + text[1:]


def _compose(text: str) -> yaml.Node | None:
    """libyaml's parser when PyYAML was built with it (a 1,000-feed file in 5 ms instead of
    60); on an error the pure-Python parser reads it again, for its clearer messages."""
    fast = getattr(yaml, "CSafeLoader", None)
    if fast is not None:
        try:
            return yaml.compose(text, Loader=fast)
        except yaml.YAMLError:
            pass
    return yaml.compose(text, Loader=yaml.SafeLoader)


def parse_config(text: str, source: str, env: Mapping[str, str]) -> Config:
    """Validate the text of feeds.yaml; relative paths are relative to ``source``'s folder."""
    try:
        root = _compose(text)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark else None
        raise ConfigError(f"not valid YAML: {e.problem or e}", source, line) from e
    except yaml.YAMLError as e:
        raise ConfigError(f"not valid YAML: {e}", source) from e
    if root is None:
        raise ConfigError("the file is empty", source, 1)
    tree = _Tree(source, env)
    data = tree.build(root, ())
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", source, 1)
    try:
        model = _ConfigModel.model_validate(data)
    except ValidationError as e:
        errors = []
        for err in e.errors():
            path = _loc_to_path(err["loc"])
            if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
                path = (*path, "type")
            errors.append(ConfigError(_message(err), source, tree.line_of(path), _key(path)))
        raise _combine(errors) from e
    return _resolve(model, source, tree)


def _combine(errors: list[ConfigError]) -> ConfigError:
    first = errors[0]
    if len(errors) > 1:
        first.message += "".join(f"\n{other}" for other in errors[1:])
    return first


def _resolve(model: _ConfigModel, source: str, tree: _Tree) -> Config:
    def fail(path: Path_, message: str) -> ConfigError:
        return ConfigError(message, source, tree.line_of(path), _key(path))

    seen_urls: dict[str, int] = {}
    seen_names: dict[str, int] = {}
    feeds = []
    for i, feed in enumerate(model.feeds):
        if feed.url in seen_urls:
            raise fail(("feeds", i, "url"), f"same feed as feeds.{seen_urls[feed.url]}")
        seen_urls[feed.url] = i
        if feed.name is not None:
            if feed.name in seen_names:
                raise fail(("feeds", i, "name"), f"name used by feeds.{seen_names[feed.name]}")
            seen_names[feed.name] = i
        interval = feed.interval or model.defaults.interval
        timeout = feed.timeout or model.defaults.timeout
        max_body = feed.max_body or model.defaults.max_body
        feeds.append(FeedSpec(feed.url, feed.name, interval, timeout, max_body))

    rules = []
    rule_names: set[str] = set()
    for i, rule in enumerate(model.alerts):
        if rule.name in rule_names:
            raise fail(("alerts", i, "name"), f"another rule is named {rule.name!r}")
        rule_names.add(rule.name)
        for j, name in enumerate(rule.notify or ()):
            if name not in model.notifiers:
                raise fail(("alerts", i, "notify", j), f"no notifier is named {name!r}")
        if not model.notifiers:
            notify: tuple[str, ...] = (STDOUT_NOTIFIER,)
        elif rule.notify is not None:
            notify = tuple(dict.fromkeys(rule.notify))
        else:
            notify = tuple(model.notifiers)
        if rule.query is not None:
            try:
                query = parse_query(rule.query)
            except QueryError as e:
                path = ("alerts", i, "query")
                raise fail(path, f"rule {rule.name!r}: {e}") from e
            rules.append(AlertRule(rule.name, (), notify, query, rule.query))
        else:
            rules.append(AlertRule(rule.name, tuple(rule.keywords or ()), notify))

    database = Path(model.database).expanduser()
    if not database.is_absolute():
        database = Path(source).parent / database
    return Config(source, database, tuple(feeds), tuple(rules), dict(model.notifiers))


def load(path: str | Path, env: Mapping[str, str]) -> Config:
    """Read and validate a config file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read the config: {e}", str(path)) from e
    return parse_config(text, str(path), env)
