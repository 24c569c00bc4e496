"""Say, before pytest runs, whether the server tests' PostgreSQL pass will run (``make test``).

The suite itself decides the same way (tests/server/pg_probe.py), so this line is the truth:
with TEST_POSTGRES_URL set, an unreachable server makes those tests fail; without it, they use
a local server if one answers and are skipped otherwise.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.server.pg_probe import ENV_VAR, postgres_target


def main() -> None:
    target = postgres_target()
    if target.url is not None:
        print(f"PostgreSQL pass: will run against {target.reason}.")
    elif target.required:
        print(f"PostgreSQL pass: will FAIL: {target.reason} ({ENV_VAR} is set).")
    else:
        print(
            f"PostgreSQL pass: skipped: {target.reason}. Set {ENV_VAR} to a database where the "
            "tests may create schemas to run it."
        )


if __name__ == "__main__":
    main()
