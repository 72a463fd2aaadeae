"""Named claims on one study, kept in the study's own database: the first writer of a name wins.

Several processes (on one machine or many) that share a study on PostgreSQL coordinate through
one small table next to Optuna's, ``specprompt_claims``: a row per ``(study, name)``, its
``owner`` a JSON object. A claim is one ``INSERT ... ON CONFLICT DO NOTHING`` (``INSERT OR
IGNORE`` on SQLite), so exactly one of several racing processes gets it; a claim left by a
process that failed or died is taken over with a compare-and-swap ``UPDATE`` on its owner.

=====================  ===========================================================================
name                   meaning (see :mod:`specprompt.search._workers`)
=====================  ===========================================================================
``score:<key>``        a trial scores the prompt ``key`` on its minibatch (no other trial does)
``admit:<trial id>``   the trial counts toward ``n_trials`` (granted under :meth:`Claims.lock`)
``worker:<index>``     a process runs with that worker index (its sampler stream)
``lock``               the row :meth:`Claims.lock` holds (PostgreSQL, MySQL: ``SELECT ... FOR UPDATE``)
=====================  ===========================================================================
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from specprompt.errors import ConfigError

if TYPE_CHECKING:
    import sqlalchemy

__all__ = ["TABLE", "Claims", "shared_url"]

#: The table name, in the database of the Optuna storage.
TABLE = "specprompt_claims"

_LOCK = "lock"
_SQLITE_LOCKS: dict[str, threading.Lock] = {}


def shared_url(storage: object) -> str | None:
    """The database URL of a storage several processes can share, else ``None``.

    Shared: an RDB URL other than SQLite (``postgresql+psycopg2://...``, ``mysql+pymysql://...``)
    or an :class:`optuna.storages.RDBStorage` (also behind Optuna's cache) on such a database.
    ``None``, ``"memory"``, SQLite files and journal storages are not: SQLite does not take
    concurrent writers, and the others hold no table for the claims.

    Example:
        >>> shared_url("postgresql+psycopg2://postgres@127.0.0.1:5432/test")
        'postgresql+psycopg2://postgres@127.0.0.1:5432/test'
        >>> shared_url("sqlite:///run/study.db") is None, shared_url(None) is None
        (True, True)
    """
    url: str | None = None
    if isinstance(storage, str):
        url = storage if "://" in storage else None
    else:
        backend = getattr(storage, "_backend", storage)  # optuna's _CachedStorage wraps the RDBStorage
        engine = getattr(backend, "engine", None)
        if engine is not None and hasattr(engine, "url"):
            url = engine.url.render_as_string(hide_password=False)
    if url is None or url.split(":", 1)[0].split("+", 1)[0].lower() == "sqlite":
        return None
    return url


def _table(metadata: sqlalchemy.MetaData) -> sqlalchemy.Table:
    import sqlalchemy as sa

    return sa.Table(
        TABLE,
        metadata,
        sa.Column("study", sa.String(512), primary_key=True),
        sa.Column("name", sa.String(512), primary_key=True),
        sa.Column("owner", sa.Text, nullable=False),
        sa.Column("created", sa.Float, nullable=False),
    )


class Claims:
    """The claims of one study.

    Args:
        url: the SQLAlchemy URL of the database (the Optuna storage's).
        study: the study name (claims of other studies are not seen).

    Raises:
        ConfigError: a URL SQLAlchemy cannot open (names it, without the password).

    Convention:
        Owners are JSON objects and compared as their sorted JSON text. Every method commits
        at once (autocommit), except inside :meth:`lock`, whose writes commit when it ends.
        Nothing here reads Optuna's tables.
    """

    def __init__(self, url: str, study: str) -> None:
        import sqlalchemy as sa

        try:
            parsed = sa.engine.make_url(url)
        except Exception as exc:  # sqlalchemy.exc.ArgumentError and friends
            raise ConfigError(f"storage URL {url.split('@')[-1]!r} is not a database URL: {exc}") from None
        self.study = study
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if self.dialect == "sqlite":  # autocommit; lock() issues BEGIN IMMEDIATE itself
            kwargs = {"connect_args": {"isolation_level": None, "timeout": 30}}
        self.engine = sa.create_engine(parsed, **kwargs)
        self._key = f"{parsed.render_as_string(hide_password=True)}|{study}"
        self.table = _table(sa.MetaData())
        self._create()

    def _create(self) -> None:
        import sqlalchemy as sa

        for attempt in range(5):  # processes starting together race to create the table
            try:
                self.table.metadata.create_all(self.engine, checkfirst=True)
                return
            except sa.exc.SQLAlchemyError:
                if sa.inspect(self.engine).has_table(TABLE):
                    return
                if attempt == 4:
                    raise
                time.sleep(0.2)

    def dispose(self) -> None:
        """Closes the pooled connections."""
        self.engine.dispose()

    # -- claims ------------------------------------------------------------------------------------
    def claim(self, name: str, owner: Mapping[str, Any], conn: sqlalchemy.Connection | None = None) -> bool:
        """Claims ``name`` for ``owner``; ``True`` when this call wrote the row (nobody held it)."""
        stmt = self._insert({"study": self.study, "name": name, "owner": _text(owner), "created": time.time()})
        with self._conn(conn) as c:
            return bool(c.execute(stmt).rowcount == 1)

    def holder(self, name: str, conn: sqlalchemy.Connection | None = None) -> dict[str, Any] | None:
        """The owner of ``name``, or ``None`` when nobody holds it."""
        t = self.table
        with self._conn(conn) as c:
            row = c.execute(t.select().where(t.c.study == self.study, t.c.name == name)).first()
        return None if row is None else dict(json.loads(row.owner))

    def release(self, name: str, owner: Mapping[str, Any] | None = None) -> bool:
        """Removes the claim (only if ``owner`` holds it, when given); ``True`` when a row went."""
        t = self.table
        cond = [t.c.study == self.study, t.c.name == name]
        if owner is not None:
            cond.append(t.c.owner == _text(owner))
        with self._conn(None) as c:
            return bool(c.execute(t.delete().where(*cond)).rowcount)

    def replace(self, name: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> bool:
        """Hands the claim from ``old`` to ``new`` if ``old`` still holds it (compare and swap)."""
        t = self.table
        stmt = (
            t.update()
            .where(t.c.study == self.study, t.c.name == name, t.c.owner == _text(old))
            .values(owner=_text(new), created=time.time())
        )
        with self._conn(None) as c:
            return bool(c.execute(stmt).rowcount == 1)

    def items(self, prefix: str = "", conn: sqlalchemy.Connection | None = None) -> dict[str, dict[str, Any]]:
        """Every claim whose name starts with ``prefix``: name -> owner."""
        t = self.table
        query = t.select().where(t.c.study == self.study)
        if prefix:
            query = query.where(t.c.name.startswith(prefix, autoescape=True))
        with self._conn(conn) as c:
            return {row.name: dict(json.loads(row.owner)) for row in c.execute(query)}

    def clear(self) -> int:
        """Deletes every claim of the study (e.g. with the study); returns how many."""
        t = self.table
        with self._conn(None) as c:
            return int(c.execute(t.delete().where(t.c.study == self.study)).rowcount)

    # -- one writer at a time ---------------------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self) -> Iterator[sqlalchemy.Connection]:
        """One process (and thread) at a time for this study; yields the connection to claim with.

        PostgreSQL and MySQL: a ``SELECT ... FOR UPDATE`` of the study's ``lock`` row, held until
        the block ends (and released by the database if the process dies). SQLite: ``BEGIN
        IMMEDIATE``, which also blocks every other writer of the file, so a block must not wait
        for another connection's write to the same file. Claims made with the yielded connection
        commit when the block ends (and are rolled back if it raises).
        """
        t = self.table
        if self.dialect == "sqlite":
            guard = _SQLITE_LOCKS.setdefault(self._key, threading.Lock())
            with guard, self.engine.connect() as c:
                c.exec_driver_sql("BEGIN IMMEDIATE")
                try:
                    yield c
                except BaseException:
                    c.exec_driver_sql("ROLLBACK")
                    raise
                c.exec_driver_sql("COMMIT")
            return
        self.claim(_LOCK, {"lock": True})  # the row to lock (once per study)
        with self.engine.begin() as c:
            c.execute(t.select().where(t.c.study == self.study, t.c.name == _LOCK).with_for_update()).first()
            yield c

    # -- helpers -------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def _conn(self, conn: sqlalchemy.Connection | None) -> Iterator[sqlalchemy.Connection]:
        if conn is not None:
            yield conn
            return
        if self.dialect == "sqlite":
            with self.engine.connect() as c:  # autocommit (isolation_level=None)
                yield c
            return
        with self.engine.begin() as c:
            yield c

    def _insert(self, values: dict[str, Any]) -> Any:
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            return pg_insert(self.table).values(**values).on_conflict_do_nothing()
        if self.dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as sqlite_insert

            return sqlite_insert(self.table).values(**values).on_conflict_do_nothing()
        if self.dialect in ("mysql", "mariadb"):
            return self.table.insert().values(**values).prefix_with("IGNORE")
        raise ConfigError(
            f"several workers need PostgreSQL or MySQL storage; {self.dialect!r} has no INSERT ... ON CONFLICT"
        )


def _text(owner: Mapping[str, Any]) -> str:
    return json.dumps(dict(owner), sort_keys=True, separators=(",", ":"))
