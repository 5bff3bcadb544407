-- Tables of the load benchmark's write workloads (tests/load/bench.sh loads
-- this; sysbench's own `prepare` makes sbtest1 for the point select).
-- Accounts 1..100000 for the transfer transaction, its history, and a table
-- for the insert workload. Re-running it starts them afresh.
DROP TABLE IF EXISTS bench_accounts, bench_transfers, bench_inserts;
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
CREATE TABLE bench_inserts (
  id BIGINT NOT NULL AUTO_INCREMENT PRIMARY KEY,
  k INT NOT NULL,
  c VARCHAR(120) NOT NULL
) ENGINE=InnoDB;
