#!/usr/bin/env sysbench
-- The direct baseline of the transfer transaction: what an application does
-- without txgate, statement by statement on its own connection, with
-- prepared statements: BEGIN; debit; credit; history INSERT; COMMIT.
-- The same transaction goes to txgate as one RunTransaction (transfer.json).
-- With --key=on it also records an idempotency key as the first statement
-- after BEGIN, as the Go gateway does (tests/load/gateway; transfer_key.json):
-- INSERT INTO gateway_idempotency_keys (k) VALUES (a per-thread random nonce and a counter).
--
--   sysbench tests/load/transfer.lua --mysql-host=127.0.0.1 --mysql-port=PORT \
--     --mysql-user=txgate --mysql-password=... --mysql-db=txgate \
--     --threads=8 --time=30 --histogram=on run
--
-- The tables come from tests/load/schema.sql (accounts 1..100000). A deadlock
-- or lock wait timeout (sysbench's default --mysql-ignore-errors) rolls back
-- and restarts the transaction; sysbench counts those as "ignored errors".

sysbench.cmdline.options = {
  accounts = {"Accounts to pick from (ids 1..N)", 100000},
  key = {"Record an idempotency key in the transaction", false},
}

function thread_init()
  drv = sysbench.sql.driver()
  con = drv:connect()
  prepare_statements()
  -- Keys must never repeat, across threads and runs: sysbench seeds every
  -- thread's generator alike (duplicates ended runs with 1062), so a key is a
  -- per-thread nonce from /dev/urandom and a counter.
  local urandom = assert(io.open("/dev/urandom", "rb"))
  nonce = urandom:read(12):gsub(".", function(c) return string.format("%02x", c:byte()) end)
  urandom:close()
  keys_made = 0
end

function prepare_statements()
  local T = sysbench.sql.type
  debit = con:prepare("UPDATE bench_accounts SET balance = balance - ? WHERE id = ?")
  debit_params = {debit:bind_create(T.BIGINT), debit:bind_create(T.INT)}
  debit:bind_param(unpack(debit_params))
  credit = con:prepare("UPDATE bench_accounts SET balance = balance + ? WHERE id = ?")
  credit_params = {credit:bind_create(T.BIGINT), credit:bind_create(T.INT)}
  credit:bind_param(unpack(credit_params))
  history = con:prepare("INSERT INTO bench_transfers (from_id, to_id, amount) VALUES (?, ?, ?)")
  history_params = {history:bind_create(T.INT), history:bind_create(T.INT),
                    history:bind_create(T.BIGINT)}
  history:bind_param(unpack(history_params))
  if sysbench.opt.key then
    keyins = con:prepare("INSERT INTO gateway_idempotency_keys (k) VALUES (?)")
    keyins_params = {keyins:bind_create(T.VARCHAR, 64)}
    keyins:bind_param(unpack(keyins_params))
  end
end

function close_statements()
  debit:close()
  credit:close()
  history:close()
  if keyins then keyins:close() end
end

function thread_done()
  close_statements()
  con:disconnect()
end

function event()
  local from = sysbench.rand.uniform(1, sysbench.opt.accounts)
  local to = sysbench.rand.uniform(1, sysbench.opt.accounts)
  local amount = sysbench.rand.uniform(1, 100)
  con:query("BEGIN")
  if keyins then
    keys_made = keys_made + 1
    keyins_params[1]:set(string.format("%s-%d", nonce, keys_made))
    keyins:execute()
  end
  debit_params[1]:set(amount)
  debit_params[2]:set(from)
  debit:execute()
  credit_params[1]:set(amount)
  credit_params[2]:set(to)
  credit:execute()
  history_params[1]:set(from)
  history_params[2]:set(to)
  history_params[3]:set(amount)
  history:execute()
  con:query("COMMIT")
end

-- An ignored error restarts the event: roll back what a lock wait timeout
-- left open (a deadlock has already rolled the transaction back), and
-- reconnect after a lost connection.
function sysbench.hooks.before_restart_event(err)
  if err.sql_errno == 2013 or err.sql_errno == 2055 or err.sql_errno == 2006 or
     err.sql_errno == 2011 then
    close_statements()
    con:reconnect()
    prepare_statements()
  else
    con:query("ROLLBACK")
  end
end
