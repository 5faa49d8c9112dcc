"""Tools for testing worktrail, and applications around it, against real servers.

* :mod:`worktrail.testing.postgres`: a throwaway PostgreSQL cluster (``initdb`` and
  ``pg_ctl`` on a free port), or the server named by ``WORKTRAIL_TEST_DATABASE_URL``.
* :mod:`worktrail.testing.server`: the real ``worktrail serve`` in a subprocess on a free
  port, handed over once it answers.

Used by worktrail's own test suite and by its performance suite (``bench``).
"""
