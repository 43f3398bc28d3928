"""Where the usage database lives: a SQLite file (the default) or a PostgreSQL server.

`usage.database` in ekai.yaml is either a path (relative to the config file's folder) or a
`postgresql://` / `postgres://` URL (libpq syntax: `postgresql://user:password@host:5432/dbname`).
`Database` is that choice, parsed once. Its `str()` is safe to log and to show on /health: a URL's
password is replaced by `***`. Only `url` (used to connect) carries the password.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

Kind = Literal["sqlite", "postgresql"]
URL_SCHEMES = ("postgresql://", "postgres://")


def is_url(value: str) -> bool:
    return value.strip().lower().startswith(URL_SCHEMES)


def redact(url: str) -> str:
    """The URL with its password (if any) replaced by ***."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0]
        return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[1]}"))
    except ValueError:
        return "postgresql://(unparsable URL)"


@dataclass(frozen=True, slots=True)
class Database:
    kind: Kind
    path: Path | None = None  # sqlite
    url: str | None = field(default=None, repr=False)  # postgresql (may hold a password)

    @classmethod
    def sqlite(cls, path: str | Path) -> Database:
        return cls("sqlite", path=Path(path))

    @classmethod
    def postgresql(cls, url: str) -> Database:
        url = url.strip()
        if url.lower().startswith("postgres://"):
            url = "postgresql://" + url[len("postgres://") :]
        parts = urlsplit(url)  # raises ValueError on a bad port etc.
        if not parts.hostname and "host=" not in parts.query:
            raise ValueError("a postgresql:// URL needs a host: postgresql://user@host:5432/dbname")
        _ = parts.port
        return cls("postgresql", url=url)

    @classmethod
    def parse(cls, value: str, folder: Path) -> Database:
        """A path (relative to `folder`) or a postgresql:// URL. Raises ValueError on a bad URL."""
        if is_url(value):
            return cls.postgresql(value)
        path = Path(value).expanduser()
        return cls.sqlite(path if path.is_absolute() else (folder / path).resolve())

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    @property
    def file(self) -> Path:
        """The SQLite file (a PostgreSQL database has none: ValueError)."""
        if self.path is None:
            raise ValueError(f"{self} is not a SQLite file")
        return self.path

    @property
    def dsn(self) -> str:
        if self.url is None:
            raise ValueError(f"{self} is not a PostgreSQL URL")
        return self.url

    def __fspath__(self) -> str:
        """A SQLite database is path-like (`Path(db)`, `sqlite3.connect(db)` work, as they did
        when `Config.database` was a Path); a PostgreSQL one is not (TypeError)."""
        if self.path is None:
            raise TypeError(f"{self} is a PostgreSQL database, not a file")
        return str(self.path)

    def __str__(self) -> str:
        return str(self.path) if self.path is not None else redact(self.url or "")
