'use strict';
// @txgate/client: a thin Node.js client for txgate (txgate.v1.DatabaseService).
//
//   const { Client, Decimal } = require('@txgate/client');
//   const db = new Client('127.0.0.1:50051');
//   const { rows } = await db.execute('SELECT ?', [1n]);
//   await db.runTransaction([['UPDATE a SET n = n - ?', [5]], ['UPDATE b SET n = n + ?', [5]]]);
//   await db.runTransaction([                       // conditional: else ExpectationFailed
//     ['UPDATE a SET n = n - ? WHERE n >= ?', [5, 5], { expect: { minAffectedRows: 1 } }],
//     ['UPDATE b SET n = n + ?', [5]]]);
//   for await (const row of db.streamQuery('SELECT * FROM big')) { ... }
//   await db.transaction(async (tx) => { await tx.execute('...'); });  // commits, or rolls back on throw
//
// The .proto files are in proto/ (client/generate.sh copies them), loaded by @grpc/proto-loader.

module.exports = {
  ...require('./values'),
  ...require('./errors'),
  ...require('./client'),
};
