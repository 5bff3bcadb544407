-- Tables of the load benchmark's write workloads (tests/load/bench.sh loads
-- this; sysbench's own `prepare` makes sbtest1 for the point select).
-- Accounts 1..100000 for the transfer transaction, its history, and the
-- idempotency keys of the Go gateway
-- (tests/load/gateway creates the same table when missing) and of
-- transfer.lua --key=on. Re-running it starts them afresh.
DROP TABLE IF EXISTS bench_accounts, bench_transfers, bench_inserts, gateway_idempotency_keys;
CREATE TABLE bench_accounts (
  id INT NOT NULL PRIMARY KEY,
  balance BIGINT NOT NULL
) ENGINE=InnoDB;
INSERT INTO bench_accounts (id, balance) SELECT seq, 1000000 FROM seq_1_to_100000;
CREATE TABLE bench_transfers (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  from_id INT NOT NULL,
  to_id INT NOT NULL,
  amount BIGINT NOT NULL,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
CREATE TABLE gateway_idempotency_keys (
  k VARCHAR(255) NOT NULL PRIMARY KEY,
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
) ENGINE=InnoDB;
