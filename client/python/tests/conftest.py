"""Fixtures for the Python client's tests.

Live tests need TXGATE_ADDR (a running txgate) and, for the connection-kill
test, TXGATE_TEST_DB_DIR (its MariaDB, administered through
deploy/local/mariadb.sh); tests/clients/run.sh sets both. Without them the
live tests are skipped and only the offline ones run.
"""

import os
import pathlib
import subprocess
import time

import pytest

from txgate_client import Client

REPO = pathlib.Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def addr():
    value = os.environ.get("TXGATE_ADDR")
    if not value:
        pytest.skip("TXGATE_ADDR not set (no live txgate)")
    return value


@pytest.fixture(scope="session")
def db(addr):
    with Client(addr, default_timeout=30.0) as client:
        yield client


def admin_sql(sql, check=True):
    """Runs SQL as the MariaDB admin; returns the output lines."""
    db_dir = os.environ.get("TXGATE_TEST_DB_DIR")
    if not db_dir:
        pytest.skip("TXGATE_TEST_DB_DIR not set (no admin access to MariaDB)")
    out = subprocess.run(["bash", str(REPO / "deploy/local/mariadb.sh"), "sql", db_dir, sql],
                         check=check, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def kill_txgate_sessions():
    """KILL CONNECTION for every session of user txgate; waits until they are gone."""
    query = "SELECT ID FROM information_schema.PROCESSLIST WHERE USER='txgate'"
    ids = admin_sql(query)
    assert ids, "txgate holds no MariaDB sessions to kill"
    for i in ids:
        admin_sql(f"KILL CONNECTION {int(i)}", check=False)  # it may have closed already
    for _ in range(300):
        if not set(ids) & set(admin_sql(query)):
            return ids
        time.sleep(0.1)
    raise AssertionError(f"sessions {ids} still alive")
