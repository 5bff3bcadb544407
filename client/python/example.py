#!/usr/bin/env python3
"""txgate from Python: every helper once, then the DB-API driver.

    python example.py [HOST:PORT]      # default: $TXGATE_ADDR or 127.0.0.1:50051

Run from client/python (or with it on PYTHONPATH / the package installed).
"""

import datetime as dt
import decimal
import os
import sys

import txgate_dbapi
from txgate_client import Client, TxgateError


def main() -> int:
    addr = sys.argv[1] if len(sys.argv) > 1 else os.environ.get("TXGATE_ADDR", "127.0.0.1:50051")
    with Client(addr) as db:
        db.execute("CREATE TABLE IF NOT EXISTS example_orders ("
                   " id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,"
                   " amount DECIMAL(12,2) NOT NULL, placed DATETIME(6) NOT NULL)")

        # One statement, autocommit, bound parameters.
        res = db.execute("INSERT INTO example_orders (amount, placed) VALUES (?, ?)",
                         [decimal.Decimal("19.99"), dt.datetime.now()])
        print("inserted order", res.last_insert_id)

        # Several statements as one transaction, exactly once: retried with the
        # same idempotency key if the outcome is unknown.
        tx = db.run_transaction([
            ("INSERT INTO example_orders (amount, placed) VALUES (?, ?)",
             [decimal.Decimal("5.00"), dt.datetime.now()]),
            "SELECT COUNT(*), SUM(amount) FROM example_orders",
        ])
        count, total = tx.results[1].rows[0]
        print(f"{count} orders, total {total} (key {tx.idempotency_key})")

        # A large result, streamed in chunks.
        with db.stream_query("SELECT id, amount FROM example_orders ORDER BY id",
                             max_rows_per_chunk=100) as rows:
            n = sum(1 for _ in rows)
        print(f"streamed {n} rows in {rows.chunks} chunk(s)")

        # An interactive transaction: rolled back unless committed.
        with db.transaction() as t:
            (oldest,) = t.execute("SELECT MIN(id) FROM example_orders FOR UPDATE").rows[0]
            t.execute("DELETE FROM example_orders WHERE id = ?", [oldest])
            t.commit()
        print("deleted order", oldest)

        # The same, re-run whole if the transaction aborts (a deadlock, ...).
        def discount(t):
            (newest,) = t.execute("SELECT MAX(id) AS newest FROM example_orders FOR UPDATE").rows[0]
            t.execute("UPDATE example_orders SET amount = amount - 1 WHERE id = ?", [newest])
            return newest
        print("discounted order", db.run_in_transaction(discount))

        # Errors carry the MySQL detail.
        try:
            db.execute("SELECT * FROM example_no_such_table")
        except TxgateError as e:
            print(f"error: {e.code.name} mysql {e.mysql_errno} ({e.mysql_sqlstate}): "
                  f"{e.mysql_message}")

    # The PEP 249 driver: a transaction from the first statement to commit();
    # rows are tuples that also take a column name.
    with txgate_dbapi.connect(addr) as conn:  # commits at the end of the block
        cur = conn.cursor()
        cur.execute("SELECT COUNT(*) AS n, SUM(amount) AS total FROM example_orders")
        row = cur.fetchone()
        print(f"DB-API: {row['n']} orders, total {row['total']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
