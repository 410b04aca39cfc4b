"""Database URLs: validation, libpq parameters for asyncpg, and a workspace's ``search_path``.

A ``DATABASE_URL`` is usually written for libpq (``?sslmode=require&connect_timeout=10``), but
SQLAlchemy's asyncpg dialect hands every URL parameter to ``asyncpg.connect()`` as a keyword
argument, which raises ``TypeError`` for each libpq name. :func:`parse_database_url` validates
the parameters once and, when there are any, names the :class:`ConnectOptions` engine plugin
in the URL (SQLAlchemy's documented ``?plugin=`` mechanism, registered through the
``sqlalchemy.plugins`` entry point), which translates them when an engine is created:

* for asyncpg, libpq's connection parameters travel in a ``dsn`` keyword, which asyncpg
  parses the way libpq does (TLS files, ``target_session_attrs``, ...); ``connect_timeout``
  becomes asyncpg's ``timeout``; ``application_name``, ``options`` and ``search_path`` become
  ``server_settings``;
* for psycopg (libpq itself) they stay as they are, and ``search_path`` becomes ``options``.

The ``search_path`` parameter is sqla-lab's own: a workspace that is a schema (when the role may
not create databases) puts it in its URL, so that *any* engine or raw connection made from that
URL, in this process or a child, works inside the schema and never in the user's ``public``.
The plugin takes it out of the engine's URL, and leaves it in the engine's execution options
(``sqla_lab_search_path``) instead, where :func:`engine_search_path` finds it: an instrument
watching "the test database" tells the schema's engines from others on the same database.

Why our own: neither SQLAlchemy nor asyncpg translates libpq URLs for SQLAlchemy's asyncpg
dialect; the plugin is the extension point SQLAlchemy provides for exactly this.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.dialects import plugins
from sqlalchemy.engine import URL, CreateEnginePlugin, Engine, make_url
from sqlalchemy.exc import ArgumentError

from sqla_lab.errors import ConfigurationError
from sqla_lab.translation import N_

__all__ = [
    "PLUGIN_NAME",
    "SEARCH_PATH",
    "SEARCH_PATH_OPTION",
    "ConnectOptions",
    "asyncpg_dsn",
    "engine_search_path",
    "libpq_conninfo",
    "libpq_parameters",
    "parse_database_url",
    "search_path_of",
    "with_database",
    "with_search_path",
]

PLUGIN_NAME = "sqla_lab"
SEARCH_PATH = "search_path"
#: The engine execution option that keeps a workspace URL's ``search_path``.
SEARCH_PATH_OPTION = "sqla_lab_search_path"

#: libpq parameters asyncpg's DSN parser understands as libpq does.
_ASYNCPG_DSN_PARAMETERS = frozenset(
    {
        "passfile",
        "sslmode",
        "sslcert",
        "sslkey",
        "sslrootcert",
        "sslcrl",
        "sslpassword",
        "sslnegotiation",
        "ssl_min_protocol_version",
        "ssl_max_protocol_version",
        "target_session_attrs",
        "krbsrvname",
        "gsslib",
        "service",
    }
)
#: libpq parameters that are server settings sent at start-up (asyncpg: ``server_settings``).
_SERVER_SETTING_PARAMETERS = frozenset({"application_name", "options", SEARCH_PATH})
#: asyncpg keyword arguments SQLAlchemy passes through, with the type each needs.
_ASYNCPG_KEYWORDS: dict[str, type] = {
    "ssl": str,
    "direct_tls": bool,
    "timeout": float,
    "command_timeout": float,
    "statement_cache_size": int,
    "max_cached_statement_lifetime": int,
    "max_cacheable_statement_size": int,
    "prepared_statement_cache_size": int,
}
#: libpq parameters asyncpg has no equivalent for: refused with a clear message.
_LIBPQ_ONLY = frozenset(
    {
        "hostaddr",
        "channel_binding",
        "client_encoding",
        "fallback_application_name",
        "keepalives",
        "keepalives_idle",
        "keepalives_interval",
        "keepalives_count",
        "tcp_user_timeout",
        "replication",
        "gssencmode",
        "gssdelegation",
        "requiressl",
        "sslcompression",
        "sslcertmode",
        "sslsni",
        "sslcrldir",
        "requirepeer",
        "require_auth",
        "load_balance_hosts",
    }
)
_KNOWN = (
    _ASYNCPG_DSN_PARAMETERS
    | _SERVER_SETTING_PARAMETERS
    | frozenset(_ASYNCPG_KEYWORDS)
    | {"connect_timeout", "plugin"}
)


def _single(query: Mapping[str, str | Sequence[str]], name: str) -> str:
    value = query[name]
    if isinstance(value, str):
        return value
    raise ConfigurationError(
        N_("DATABASE_URL gives the parameter {name!r} more than once"), name=name
    )


def _check_query(url: URL) -> None:
    for name in url.query:
        if name in _LIBPQ_ONLY:
            raise ConfigurationError(
                N_(
                    "DATABASE_URL parameter {name!r} is a libpq setting asyncpg does not "
                    "support; remove it from the URL"
                ),
                name=name,
            )
        if name not in _KNOWN:
            raise ConfigurationError(
                N_("DATABASE_URL has an unknown parameter {name!r}"), name=name
            )
        value = _single(url.query, name)
        if name == "connect_timeout" or _ASYNCPG_KEYWORDS.get(name) in {int, float}:
            try:
                number = float(value)
            except ValueError:
                raise ConfigurationError(
                    N_("DATABASE_URL parameter {name}={value!r} is not a number"),
                    name=name,
                    value=value,
                ) from None
            if not 0 <= number < float("inf"):
                raise ConfigurationError(
                    N_("DATABASE_URL parameter {name}={value!r} is out of range"),
                    name=name,
                    value=value,
                )
        if name == "plugin" and value != PLUGIN_NAME:
            raise ConfigurationError(
                N_("DATABASE_URL names an unknown engine plugin {value!r}"), value=value
            )


def parse_database_url(url: str | URL) -> URL:
    """Validate a PostgreSQL URL and return it with the asyncpg driver.

    Accepts ``postgresql://``, ``postgres://`` and any ``postgresql+driver://`` spelling, with
    libpq's connection parameters. A URL with parameters names the :class:`ConnectOptions`
    plugin, which applies them to whichever driver an engine uses.

    Raises:
        ConfigurationError: unparsable, not a PostgreSQL URL, or a parameter asyncpg cannot use.
    """
    try:
        parsed = make_url(url) if isinstance(url, str) else url
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(
            N_("DATABASE_URL is not a valid database URL: {exc}"), exc=exc
        ) from None
    if parsed.get_backend_name() not in {"postgresql", "postgres"}:
        raise ConfigurationError(
            N_("DATABASE_URL must be a PostgreSQL URL (postgresql://...), not {backend!r}"),
            backend=parsed.get_backend_name(),
        )
    try:
        port = parsed.port
    except ValueError:
        raise ConfigurationError(N_("DATABASE_URL has an invalid port")) from None
    if port is not None and not 0 < port < 65536:
        raise ConfigurationError(N_("DATABASE_URL has an invalid port: {port}"), port=port)
    _check_query(parsed)
    parsed = parsed.set(drivername="postgresql+asyncpg")
    if parsed.query and "plugin" not in parsed.query:
        parsed = parsed.update_query_dict({"plugin": PLUGIN_NAME})
    return parsed


def with_search_path(url: URL, schema: str) -> URL:
    """``url`` whose connections work in ``schema`` only (sqla-lab's ``search_path`` parameter)."""
    return url.update_query_dict({SEARCH_PATH: schema, "plugin": PLUGIN_NAME})


def with_database(url: URL, database: str) -> URL:
    """``url`` on another database of the same server, with the same parameters."""
    return url.set(database=database)


def search_path_of(url: URL) -> str | None:
    """The schema a workspace URL confines its connections to, if any."""
    value = url.query.get(SEARCH_PATH)
    return value if isinstance(value, str) else None


def engine_search_path(engine: Engine) -> str | None:
    """The schema an engine made from a workspace URL works in, if any."""
    kept = engine.get_execution_options().get(SEARCH_PATH_OPTION)
    return kept if isinstance(kept, str) else search_path_of(engine.url)


def _query(url: URL) -> dict[str, str]:
    return {k: _single(url.query, k) for k in url.query if k != "plugin"}


def _options_with_search_path(params: dict[str, str]) -> dict[str, str]:
    """Fold ``search_path`` into libpq's ``options`` (``-c search_path=...``)."""
    schema = params.pop(SEARCH_PATH, None)
    if schema is not None:
        extra = f"-c {SEARCH_PATH}={schema}"
        params["options"] = f"{params['options']} {extra}" if "options" in params else extra
    return params


def asyncpg_dsn(url: URL) -> str:
    """A ``postgresql://`` DSN (password included) for ``asyncpg.connect`` itself.

    asyncpg reads libpq's TLS and routing parameters from a DSN and sends the remaining ones
    (``application_name``, ``options``, ``search_path``) as server settings.
    """
    params = {
        k: v
        for k, v in _query(url).items()
        if k in _ASYNCPG_DSN_PARAMETERS or k in _SERVER_SETTING_PARAMETERS
    }
    base = url.set(drivername="postgresql", query={})
    return base.render_as_string(hide_password=False) + (
        "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote) if params else ""
    )


def _coerce(value: str, kind: type) -> Any:
    if kind is bool:
        return value.lower() in {"1", "true", "yes", "on"}
    return kind(value)


def libpq_parameters(url: URL) -> dict[str, str]:
    """The URL's parameters as libpq (psycopg) takes them."""
    params = {
        k: v
        for k, v in _query(url).items()
        if k not in _ASYNCPG_KEYWORDS or k == "ssl"  # asyncpg's own keywords mean nothing here
    }
    if "ssl" in params:
        params.setdefault("sslmode", params.pop("ssl"))
    return _options_with_search_path(params)


def libpq_conninfo(url: URL) -> str:
    """A ``postgresql://`` URI (password included) for libpq clients such as psycopg."""
    params = libpq_parameters(url)
    base = url.set(drivername="postgresql", query={})
    return base.render_as_string(hide_password=False) + (
        "?" + urllib.parse.urlencode(params, quote_via=urllib.parse.quote) if params else ""
    )


class ConnectOptions(CreateEnginePlugin):
    """Apply libpq URL parameters, and sqla-lab's ``search_path``, to the engine's driver.

    Named in a URL as ``?plugin=sqla_lab`` (which :func:`parse_database_url` adds).
    """

    def __init__(self, url: URL, kwargs: dict[str, Any]) -> None:
        super().__init__(url, kwargs)
        params = _query(url)
        if url.get_driver_name() == "asyncpg":
            connect_args: dict[str, Any] = dict(kwargs.get("connect_args") or {})
            dsn_params = {
                k: v
                for k, v in params.items()
                if k in _ASYNCPG_DSN_PARAMETERS or k in _SERVER_SETTING_PARAMETERS
            }
            if dsn_params:
                # asyncpg merges a DSN with explicit keywords (keywords win): SQLAlchemy passes
                # host, port, user and database as keywords; the DSN carries the rest.
                connect_args.setdefault(
                    "dsn",
                    "postgresql://?"
                    + urllib.parse.urlencode(dsn_params, quote_via=urllib.parse.quote),
                )
            if "connect_timeout" in params:
                connect_args.setdefault("timeout", float(params["connect_timeout"]))
            for name, kind in _ASYNCPG_KEYWORDS.items():
                if name in params:
                    connect_args.setdefault(name, _coerce(params[name], kind))
            kwargs["connect_args"] = connect_args
        self._driver = url.get_driver_name()
        self._search_path = params.get(SEARCH_PATH)

    def update_url(self, url: URL) -> URL:
        """Remove what this plugin applies itself, so the dialect never sees it."""
        if self._driver == "asyncpg":
            return url.set(query={})
        return url.set(query=libpq_parameters(url))

    def handle_dialect_kwargs(self, dialect_cls: type[Any], dialect_args: dict[str, Any]) -> None:
        """Nothing to change in the dialect's arguments."""

    def engine_created(self, engine: Engine) -> None:
        """Keep the schema the URL named where :func:`engine_search_path` finds it."""
        if self._search_path is not None:
            engine.update_execution_options(**{SEARCH_PATH_OPTION: self._search_path})


# Also registered as the ``sqlalchemy.plugins`` entry point ``sqla_lab``; registering here too
# keeps a source checkout without installed metadata working.
plugins.register(PLUGIN_NAME, __name__, "ConnectOptions")
