// A typed use of @txgate/client, checked (not run) by `tsc -p typecheck` in
// tests/clients/run.sh: the declarations in lib/index.d.ts must accept it,
// and reject what the @ts-expect-error lines do. Outside test/, so that no
// test runner takes it for a test.
import {
  Client, Decimal, DateTime, ExpectationFailed, PreciseDate, TxgateError, jsonReplacer, type Row, type SqlValue,
} from '@txgate/client';

interface Order extends Row {
  id: number | bigint;
  amount: string; // DECIMAL: its exact text
  placed: PreciseDate;
}

// A plain interface (no index signature, not extending Row) types rows too.
interface Invoice {
  id: number;
  total: string;
}

export async function invoices(db: Client): Promise<string[]> {
  const { rows } = await db.execute<Invoice>('SELECT id, total FROM invoices');
  const inTx = await db.runInTransaction(async (tx) => (await tx.execute<Invoice>('SELECT id, total FROM invoices')).rows);
  // @ts-expect-error a row is an object
  await db.execute<string>('SELECT 1');
  return [...rows, ...inTx].map((r) => `${r.id}: ${r.total}`);
}

export async function main(addr: string): Promise<string> {
  const db = new Client(addr, { integers: 'auto', channelOptions: { 'grpc.keepalive_time_ms': 20000 } });
  try {
    const ins = await db.execute('INSERT INTO orders (amount, placed) VALUES (?, ?)', [new Decimal('1.50'), new Date()]);
    const id: number | bigint = ins.lastInsertId;
    const { rows, rowsAsArrays } = await db.execute<Order>('SELECT id, amount, placed FROM orders WHERE id = ?', [id]);
    const first: Order | undefined = rows[0];
    const micros: number | undefined = first?.placed.microsecond;
    const cell: SqlValue = rowsAsArrays[0]?.[0] ?? null;
    const tr = await db.runTransaction([
      ['UPDATE a SET n = n - ? WHERE n >= ?', [5, 5], { expect: { minAffectedRows: 1 } }],
      { sql: 'UPDATE b SET n = n + ?', params: [5n] },
      'SELECT 1',
    ], { isolation: 'READ_COMMITTED' });
    const n: number = tr.results.length + tr.attempts;
    const moved = await db.runInTransaction(async (tx, attempt) => {
      const r = await tx.execute('UPDATE a SET n = n + 1', [], { expect: { affectedRows: 1 } });
      return { affected: r.affectedRows, attempt };
    }, { maxAttempts: 5, onRetry: (e: TxgateError, a: number) => console.log(e.codeName, e.mysqlErrno, a) });
    const stream = db.streamQuery<Order>('SELECT * FROM orders');
    for await (const row of stream) console.log(row.amount);
    for await (const arr of db.streamQuery('SELECT 1', [], { rowMode: 'array' })) {
      const v: SqlValue[] = arr;
      console.log(v.length);
    }
    const dt: DateTime = new DateTime(2024, 1, 2).toDate().toDateTime();
    // @ts-expect-error integers is 'auto' or 'bigint'
    new Client(addr, { integers: 'number' });
    // @ts-expect-error a plain object is no parameter
    await db.execute('SELECT ?', [{}]);
    const replica = new Client(addr, { routing: 'replica' });
    await replica.execute('SELECT 1', [], { routing: 'primary' });
    const token: string = replica.causalityToken;
    replica.clearCausalityToken();
    replica.close();
    // @ts-expect-error routing is 'primary', 'replica' or null
    new Client(addr, { routing: 'nearest' });
    return JSON.stringify({ rows, micros, cell, n, moved, dt, token }, jsonReplacer);
  } catch (e) {
    if (e instanceof ExpectationFailed) return `${e.statementIndex} ${e.expectation} ${e.expected} ${e.actual}`;
    throw e;
  } finally {
    db.close();
  }
}
