#!/usr/bin/env node
'use strict';
// txgate from Node.js: every helper once.
//
//   node example.js [HOST:PORT]     # default: $TXGATE_ADDR or 127.0.0.1:50051
const { Client, Decimal, TxgateError } = require('./lib');

async function main() {
  const addr = process.argv[2] || process.env.TXGATE_ADDR || '127.0.0.1:50051';
  const db = new Client(addr);
  try {
    await db.execute(`CREATE TABLE IF NOT EXISTS example_orders (
      id BIGINT UNSIGNED AUTO_INCREMENT PRIMARY KEY,
      amount DECIMAL(12,2) NOT NULL, placed DATETIME(6) NOT NULL)`);

    // One statement, autocommit, bound parameters.
    const ins = await db.execute('INSERT INTO example_orders (amount, placed) VALUES (?, ?)',
      [new Decimal('19.99'), new Date()]);
    console.log(`inserted order ${ins.lastInsertId}`);

    // Several statements as one transaction, exactly once: retried with the
    // same idempotency key if the outcome is unknown.
    const tr = await db.runTransaction([
      ['INSERT INTO example_orders (amount, placed) VALUES (?, ?)', [new Decimal('5.00'), new Date()]],
      'SELECT COUNT(*) AS count, SUM(amount) AS total FROM example_orders',
    ]);
    // Rows are keyed by column name (rowsAsArrays: the same rows as arrays);
    // integers are numbers up to 2^53 - 1, DECIMAL is its exact text.
    const { count, total } = tr.results[1].rows[0];
    console.log(`${count} orders, total ${total} (key ${tr.idempotencyKey})`);

    // A large result, streamed in chunks.
    const rows = db.streamQuery('SELECT id, amount FROM example_orders ORDER BY id', [], { maxRowsPerChunk: 100 });
    let n = 0;
    let last = null;
    for await (const { id } of rows) {
      n++;
      last = id;
    }
    console.log(`streamed ${n} rows (last id ${last}) in ${rows.chunks} chunk(s)`);

    // An interactive transaction: committed when the callback resolves,
    // rolled back when it throws, and run again whole after a deadlock
    // (ABORTED), within bounds.
    const oldest = await db.runInTransaction(async (tx) => {
      const [{ id }] = (await tx.execute('SELECT MIN(id) AS id FROM example_orders FOR UPDATE')).rows;
      await tx.execute('DELETE FROM example_orders WHERE id = ?', [id]);
      return id;
    });
    console.log(`deleted order ${oldest}`);

    // Errors carry the MySQL detail.
    try {
      await db.execute('SELECT * FROM example_no_such_table');
    } catch (e) {
      if (!(e instanceof TxgateError)) throw e;
      console.log(`error: ${e.codeName} mysql ${e.mysqlErrno} (${e.mysqlSqlstate}): ${e.mysqlMessage}`);
    }
  } finally {
    db.close();
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
