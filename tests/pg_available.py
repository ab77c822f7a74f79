"""Exit 0 when the test PostgreSQL server answers (used by `make test`)."""

from __future__ import annotations

import sys

import psycopg

from tests.conftest import PG_ADMIN_URL, _pg_conninfo


def main() -> int:
    try:
        with psycopg.connect(_pg_conninfo(PG_ADMIN_URL), connect_timeout=3):
            return 0
    except psycopg.Error:
        return 1


if __name__ == "__main__":
    sys.exit(main())
