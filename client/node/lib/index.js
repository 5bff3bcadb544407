'use strict';
// @txgate/client: a thin Node.js client for txgate (txgate.v1.DatabaseService).
//
//   const { Client, Decimal } = require('@txgate/client');
//   const db = new Client('127.0.0.1:50051');   // or 'ipv4:10.0.0.1:50051,10.0.0.2:50051' (round_robin)
//   const { rows } = await db.execute('SELECT ? AS n', [1]);   // rows: [{ n: 1 }]; rowsAsArrays: [[1]]
//   await db.runTransaction([['UPDATE a SET n = n - ?', [5]], ['UPDATE b SET n = n + ?', [5]]]);
//   await db.runTransaction([                       // conditional: else ExpectationFailed
//     ['UPDATE a SET n = n - ? WHERE n >= ?', [5, 5], { expect: { minAffectedRows: 1 } }],
//     ['UPDATE b SET n = n + ?', [5]]]);
//   for await (const row of db.streamQuery('SELECT * FROM big')) { ... }
//   await db.runInTransaction(async (tx) => { await tx.execute('...'); });  // re-run whole on ABORTED
//
// Values (values.js): integers as numbers up to 2^53 - 1 and bigints beyond,
// DECIMAL as its text, DATETIME/TIMESTAMP as a Date in UTC with .microsecond.
// Types: index.d.ts.
//
// The .proto files are in proto/ (client/generate.sh copies them), loaded by @grpc/proto-loader.

module.exports = {
  ...require('./values'),
  ...require('./errors'),
  ...require('./client'),
};
