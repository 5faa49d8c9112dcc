"""The PostgreSQL server settings worktrail recommends and is measured with.

docs/operations.md ("PostgreSQL settings") lists them with the reason for each (a test keeps
the two the same), and the benchmarks start their PostgreSQL with them, so that a quoted
figure is one a deployment that follows the docs can expect. Sized for a database server
with 8 GiB of memory: scale the memory settings with yours (shared_buffers a quarter of it,
effective_cache_size three quarters).
"""

from __future__ import annotations

RECOMMENDED: dict[str, str] = {
    # durability: every acknowledged event is on disk (the default; named so nobody
    # copies a benchmark's settings that trade it away)
    "fsync": "on",
    "synchronous_commit": "on",
    "full_page_writes": "on",
    # memory
    "shared_buffers": "2GB",
    "effective_cache_size": "6GB",
    "work_mem": "16MB",
    "maintenance_work_mem": "512MB",
    # write-ahead log: fewer, spread checkpoints under sustained ingest
    "max_wal_size": "8GB",
    "checkpoint_timeout": "15min",
    "checkpoint_completion_target": "0.9",
    "wal_compression": "on",
    # SSD storage
    "random_page_cost": "1.1",
    "effective_io_concurrency": "200",
    # one pool per worktrail process (WORKTRAIL_POOL_SIZE x 3 at most), or PgBouncer
    "max_connections": "200",
}
