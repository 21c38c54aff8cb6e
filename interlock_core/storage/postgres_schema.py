"""The PostgreSQL store's schema, migrations and URL: pure definitions, no database access.

``{s}`` in every statement is the quoted, validated schema name (see :func:`parse_postgres_url`).
"""

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from interlock_core.storage.redact import redact_url

DEFAULT_SCHEMA = "public"
# Options this store reads from the URL; every other query parameter goes to libpq.
_STORE_OPTIONS = ("schema", "pool_min", "pool_max", "pool_timeout", "statement_timeout")
_SECONDS = ("pool_timeout", "statement_timeout")
_SCHEMA_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
# The first key of the advisory lock that serialises migrations (and applies); the second key
# is derived from the schema name, so two schemas in one database do not wait for each other.
LOCK_NAMESPACE = 0x494C4B  # "ILK"
MIGRATE_LOCK = 1
APPLY_LOCK = 2

# Migration ``n`` takes the schema from version ``n`` to ``n + 1``; append, never edit.
# ``{s}`` is the quoted schema name.
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE {s}.config_versions (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            hash TEXT COLLATE "C" NOT NULL,
            document JSON NOT NULL,
            source TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL,
            PRIMARY KEY (pipeline_id, hash)
        )""",
        """CREATE TABLE {s}.config_current (
            pipeline_id TEXT COLLATE "C" PRIMARY KEY,
            hash TEXT COLLATE "C" NOT NULL
        )""",
        """CREATE TABLE {s}.sensors (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            key TEXT COLLATE "C" NOT NULL,
            data JSON NOT NULL,
            written_at TIMESTAMPTZ NOT NULL,
            version BIGINT NOT NULL,
            PRIMARY KEY (pipeline_id, key)
        )""",
        "CREATE INDEX sensors_by_version ON {s}.sensors (pipeline_id, version)",
        """CREATE TABLE {s}.sensor_counters (
            pipeline_id TEXT COLLATE "C" PRIMARY KEY,
            version BIGINT NOT NULL
        )""",
        """CREATE TABLE {s}.runs (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            period TEXT COLLATE "C" NOT NULL,
            status TEXT NOT NULL,
            version BIGINT NOT NULL,
            attempt INTEGER NOT NULL,
            due_at TIMESTAMPTZ,
            owner TEXT,
            document JSON NOT NULL,
            PRIMARY KEY (pipeline_id, period)
        )""",
        """CREATE INDEX runs_by_due ON {s}.runs (due_at, pipeline_id, period)
            WHERE due_at IS NOT NULL""",
        "CREATE INDEX runs_by_status ON {s}.runs (status, period)",
        "CREATE INDEX runs_by_period ON {s}.runs (period, pipeline_id)",
        """CREATE TABLE {s}.reruns (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            period TEXT COLLATE "C" NOT NULL,
            seq INTEGER NOT NULL,
            reason TEXT NOT NULL,
            at TIMESTAMPTZ NOT NULL,
            detail JSON NOT NULL,
            PRIMARY KEY (pipeline_id, period, seq)
        )""",
        """CREATE TABLE {s}.rerun_counters (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            period TEXT COLLATE "C" NOT NULL,
            seq INTEGER NOT NULL,
            PRIMARY KEY (pipeline_id, period)
        )""",
        """CREATE TABLE {s}.markers (
            pipeline_id TEXT COLLATE "C" NOT NULL,
            name TEXT COLLATE "C" NOT NULL,
            created_at TIMESTAMPTZ NOT NULL,
            expires_at TIMESTAMPTZ,
            data JSON NOT NULL,
            PRIMARY KEY (pipeline_id, name)
        )""",
        "CREATE INDEX markers_by_expiry ON {s}.markers (expires_at) WHERE expires_at IS NOT NULL",
        """CREATE TABLE {s}.events (
            id TEXT COLLATE "C" PRIMARY KEY,
            at TIMESTAMPTZ NOT NULL,
            type TEXT NOT NULL,
            pipeline_id TEXT COLLATE "C" NOT NULL,
            period TEXT COLLATE "C",
            attempt INTEGER,
            document JSON NOT NULL
        )""",
        "CREATE INDEX events_by_time ON {s}.events (at, id)",
        "CREATE INDEX events_by_pipeline ON {s}.events (pipeline_id, at, id)",
        "CREATE INDEX events_by_type ON {s}.events (type, at, id)",
        "CREATE INDEX events_by_period ON {s}.events (period, at, id)",
    ),
)

SCHEMA_VERSION = len(MIGRATIONS)


def lock_key(schema: str) -> int:
    """A stable signed 32-bit key for ``schema`` (the advisory lock's second key)."""
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)


def notify_channel(schema: str) -> str:
    """The ``NOTIFY`` channel of a schema's sensor writes (an identifier under 64 bytes)."""
    return "interlock_sensors_" + hashlib.sha256(schema.encode()).hexdigest()[:16]


def parse_postgres_url(url: str) -> tuple[str, str, dict[str, float]]:
    """Split a store URL into libpq's conninfo, the schema name and the pool options.

    Raises:
        ValueError: the scheme, the schema name or a pool option is not usable.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ValueError(
            f"unsupported PostgreSQL URL {redact_url(url)!r}: use "
            "postgresql://USER@HOST:PORT/DB[?schema=NAME]"
        )
    libpq: list[tuple[str, str]] = []
    options: dict[str, str] = {}
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in _STORE_OPTIONS:
            options[name] = value
        else:
            libpq.append((name, value))
    schema = options.pop("schema", DEFAULT_SCHEMA)
    if not _SCHEMA_NAME.match(schema):
        raise ValueError(
            f"unsupported schema name {schema!r} in {redact_url(url)!r}: use letters, digits "
            "and underscores, starting with a letter or underscore (at most 63)"
        )
    if schema.startswith("pg_") or schema == "information_schema":
        # PostgreSQL's own schemas: pg_temp is per session (each pooled connection would see
        # other tables) and pg_dump skips information_schema (no backups).
        raise ValueError(
            f"schema {schema!r} in {redact_url(url)!r} is a PostgreSQL system schema; give "
            "Interlock a schema of its own, e.g. schema=interlock"
        )
    pool: dict[str, float] = {}
    for name, text in options.items():
        try:
            number = float(text)
        except ValueError:
            number = -1.0
        if number <= 0 or (name not in _SECONDS and not number.is_integer()):
            raise ValueError(
                f"{name} must be a positive {'number' if name in _SECONDS else 'integer'}"
                f", got {text!r} in {redact_url(url)!r}"
            )
        pool[name] = number
    # Built by hand: urlunsplit drops the "//" of a URL without a host ("postgresql:///db",
    # "postgresql://?service=name"), which libpq needs.
    query = urlencode(libpq)
    conninfo = f"{parts.scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    return conninfo, schema, pool
