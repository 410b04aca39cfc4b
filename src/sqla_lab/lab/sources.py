"""Where claims come from, as sources a reader can follow: a name and a link.

A finding's ``source`` is a string, kept as it is in the JSON (a stable key); this module
turns it into named links. It holds one or more parts separated by ``"; "``:

* ``seed §N <section title>`` (optionally ``› <sub-heading>``): the Korean study notes of the
  `sqlalchemy-tutorial <https://github.com/craftsangjae/sqlalchemy-tutorial>`_ repository this
  project grew from; build it with :func:`seed_section` so the title is the notes' own;
* ``seed tests <path>: <what>``: a test of that repository's fork the notes were written in;
* a URL: a documentation page, named from :data:`PAGES` (site and page title);
* ``sqla-lab``: a remedy or a measurement sqla-lab adds itself (no link).

Site names and the seed's name are templates (translated); page and section titles are proper
names and stay as their authors wrote them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from sqla_lab.lab.messages import N_, Message

__all__ = [
    "PAGES",
    "SEED_FORK",
    "SEED_REPOSITORY",
    "SEED_SECTIONS",
    "SITES",
    "SourceLink",
    "seed_section",
    "source_links",
]

#: The repository the seed's study notes were written about.
SEED_REPOSITORY = "https://github.com/craftsangjae/sqlalchemy-tutorial"
#: The fork whose README holds the notes, and whose tests some claims come from.
SEED_FORK = "https://github.com/pai-jk/sqlalchemy-tutorial"
#: The notes' four sections, titled as the notes title them.
SEED_SECTIONS = {
    1: "데이터베이스 connection 동작과 connection pool의 동작",
    2: "세션과 비동기 동작에서 스레드와 테스크",
    3: "orm Entity의 각 상태",
    4: "orm Entity에서 관계형 데이터베이스의 테이블을 가져오는 방법",
}

#: Documentation sites, by host (and path prefix), named for a reader.
SITES = {
    "docs.sqlalchemy.org": N_("SQLAlchemy documentation"),
    "magicstack.github.io/asyncpg": N_("asyncpg documentation"),
    "www.pgbouncer.org": N_("PgBouncer documentation"),
    "www.postgresql.org": N_("PostgreSQL documentation"),
    "www.uvicorn.org": N_("Uvicorn documentation"),
}
#: Page titles, by URL without its fragment, as the pages title themselves.
PAGES = {
    "https://docs.sqlalchemy.org/en/20/core/pooling.html": "Connection Pooling",
    "https://docs.sqlalchemy.org/en/20/dialects/postgresql.html": "PostgreSQL",
    "https://docs.sqlalchemy.org/en/20/orm/contextual.html": "Contextual/Thread-local Sessions",
    "https://docs.sqlalchemy.org/en/20/orm/extensions/asyncio.html": "Asynchronous I/O (asyncio)",
    "https://docs.sqlalchemy.org/en/20/orm/large_collections.html": (
        "Working with Large Collections"
    ),
    "https://docs.sqlalchemy.org/en/20/orm/persistence_techniques.html": (
        "Additional Persistence Techniques"
    ),
    "https://docs.sqlalchemy.org/en/20/orm/queryguide/relationships.html": (
        "Relationship Loading Techniques"
    ),
    "https://docs.sqlalchemy.org/en/20/orm/session_basics.html": "Session Basics",
    "https://docs.sqlalchemy.org/en/20/orm/session_state_management.html": "State Management",
    "https://docs.sqlalchemy.org/en/20/orm/session_transaction.html": (
        "Transactions and Connection Management"
    ),
    "https://docs.sqlalchemy.org/en/20/core/engines.html": "Engine Configuration",
    "https://magicstack.github.io/asyncpg/current/api/index.html": "API Reference",
    "https://magicstack.github.io/asyncpg/current/faq.html": "Frequently Asked Questions",
    "https://www.pgbouncer.org/config.html": "Configuration",
    "https://www.pgbouncer.org/features.html": "Features",
    "https://www.postgresql.org/docs/current/errcodes-appendix.html": "PostgreSQL Error Codes",
    "https://www.postgresql.org/docs/current/hot-standby.html": "Hot Standby",
    "https://www.postgresql.org/docs/current/runtime-config-connection.html": (
        "Connections and Authentication"
    ),
    "https://www.postgresql.org/docs/current/runtime-config-wal.html": "Write Ahead Log",
    "https://www.postgresql.org/docs/current/warm-standby.html": "Log-Shipping Standby Servers",
    "https://www.postgresql.org/docs/current/transaction-iso.html": "Transaction Isolation",
    "https://www.uvicorn.org/deployment/": "Deployment",
}

_SEED_NAME = N_("sqlalchemy-tutorial study notes §{section} {title}")
_SEED_PART = N_("sqlalchemy-tutorial study notes §{section} {title} › {part}")
_SEED_TESTS = N_("sqlalchemy-tutorial tests: {path} ({what})")
_PAGE = N_("{site}: {page}")
_PAGE_SECTION = N_("{site}: {page}, {section}")
_SQLA_LAB = N_("sqla-lab (a remedy or reading it adds; not the seed's claim)")
_SEED = re.compile(r"^seed §(?P<section>\d+)(?: (?P<title>.*?))?(?: › (?P<part>.+))?$")
_SEED_TEST = re.compile(r"^seed tests (?P<path>\S+): (?P<what>.+)$")


@dataclass(frozen=True)
class SourceLink:
    """One source: how it reads and where it is (``None``: nothing to link to)."""

    label: Message
    url: str | None


def seed_section(section: int, part: str | None = None) -> str:
    """The ``source`` of a claim from the seed's section ``section`` (1 to 4), optionally
    under one of its sub-headings or bullet titles (``part``, the notes' own words)."""
    text = f"seed §{section} {SEED_SECTIONS[section]}"
    return f"{text} › {part}" if part else text


def _split(source: str) -> list[str]:
    """``source`` cut at ``"; "`` outside parentheses."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    index = 0
    while index < len(source):
        char = source[index]
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth == 0 and source.startswith("; ", index):
            parts.append("".join(current))
            current = []
            index += 2
            continue
        current.append(char)
        index += 1
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _page(url: str) -> SourceLink:
    split = urlsplit(url)
    bare = url.split("#", 1)[0]
    site = next(
        (
            name
            for prefix, name in SITES.items()
            if f"{split.netloc}{split.path}".startswith(prefix)
        ),
        None,
    )
    page = PAGES.get(bare)
    if site is None or page is None:
        return SourceLink(Message("{url}", {"url": url}), url)
    if split.fragment:
        section = split.fragment.replace("-", " ").replace("_", " ")
        return SourceLink(
            Message(_PAGE_SECTION, {"site": Message(site), "page": page, "section": section}), url
        )
    return SourceLink(Message(_PAGE, {"site": Message(site), "page": page}), url)


def _one(part: str) -> SourceLink:
    if part.startswith(("https://", "http://")):
        return _page(part)
    if part == "sqla-lab":
        return SourceLink(Message(_SQLA_LAB), None)
    seed = _SEED.match(part)
    if seed is not None:
        section = int(seed["section"])
        title = SEED_SECTIONS.get(section, seed["title"] or "")
        values = {"section": section, "title": title}
        if seed["part"]:
            return SourceLink(
                Message(_SEED_PART, {**values, "part": seed["part"]}), SEED_REPOSITORY
            )
        return SourceLink(Message(_SEED_NAME, values), SEED_REPOSITORY)
    test = _SEED_TEST.match(part)
    if test is not None:
        return SourceLink(
            Message(_SEED_TESTS, {"path": test["path"], "what": test["what"]}),
            f"{SEED_FORK}/blob/HEAD/{test['path']}",
        )
    return SourceLink(Message("{text}", {"text": part}), None)


def source_links(source: str) -> tuple[SourceLink, ...]:
    """The sources named by a finding's ``source``, in order, each with its link."""
    return tuple(_one(part) for part in _split(source))
