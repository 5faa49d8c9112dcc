"""PostgreSQL: production. psycopg 3 through SQLAlchemy, one connection pool; each write
transaction locks its organization's head row (SELECT ... FOR UPDATE, see Store.write)."""

from __future__ import annotations

from sqlalchemy import Engine, create_engine

from ..config import Settings
from .base import Store


def normalize_url(url: str) -> str:
    """Accept postgres:// and postgresql:// and use the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


class PostgresStore(Store):
    dialect_name = "postgresql"

    def _create_engines(self, url: str, settings: Settings) -> tuple[Engine, Engine]:
        engine = create_engine(
            normalize_url(url),
            pool_size=settings.pool_size,
            max_overflow=settings.pool_size * 2,
            pool_pre_ping=True,
            pool_timeout=60,
        )
        return engine, engine
