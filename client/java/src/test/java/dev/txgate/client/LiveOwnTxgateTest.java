package dev.txgate.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.txgate.client.TxgateClient.TxOptions;
import io.grpc.Status;
import java.time.Duration;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * runInTransaction and Transaction against a txgate of the test's own (OwnTxgate),
 * killed and restarted, or stopped, while a transaction runs.
 */
class LiveOwnTxgateTest {
  /**
   * txgate is killed and restarted while work runs: the attempt's stream is cut
   * before its commit was sent (a transport UNAVAILABLE), so runInTransaction
   * re-runs work against the new txgate, which commits it once.
   */
  @Test
  void runInTransactionReRunsWhenTxgateRestartsBeforeTheCommit() throws Exception {
    try (OwnTxgate g = new OwnTxgate(); TxgateClient db = new TxgateClient(g.target())) {
      String t = "java_restart_" + Long.toHexString(System.nanoTime());
      db.execute("CREATE TABLE " + t + " (id INT PRIMARY KEY, n INT)");
      try {
        db.execute("INSERT INTO " + t + " VALUES (1, 0)");
        AtomicInteger attempts = new AtomicInteger();
        int out = db.runInTransaction(TxOptions.DEFAULT, tx -> {
          int attempt = attempts.incrementAndGet();
          tx.execute("UPDATE " + t + " SET n = n + 1 WHERE id = 1");
          if (attempt == 1) {
            try {
              g.kill();
              g.start();
            } catch (Exception e) {
              throw new AssertionError(e);
            }
          }
          tx.execute("UPDATE " + t + " SET n = n + 10 WHERE id = 1");
          return attempt;
        });
        assertTrue(out >= 2, "attempt " + out);
        assertEquals(11L, db.query("SELECT n FROM " + t).get(0).getLong("n"));
      } finally {
        db.execute("DROP TABLE " + t);
      }
    }
  }

  /**
   * A txgate that stops answering (kill -STOP) mid-transaction: the step in
   * progress fails DEADLINE_EXCEEDED when the transaction's deadline (TxOptions
   * timeout, here 2 s) passes, answered within timeout + 1 s; runInTransaction does
   * not re-run it.
   */
  @Test
  void aStoppedTxgateCannotBlockATransactionForEver() throws Exception {
    try (OwnTxgate g = new OwnTxgate(); TxgateClient db = new TxgateClient(g.target())) {
      Duration timeout = Duration.ofSeconds(2);
      AtomicInteger attempts = new AtomicInteger();
      long[] started = new long[1];
      TxgateException e = assertThrows(TxgateException.class,
          () -> db.runInTransaction(TxOptions.DEFAULT.withTimeout(timeout), tx -> {
            attempts.incrementAndGet();
            tx.execute("SELECT 1");
            try {
              g.signal("STOP");
            } catch (Exception x) {
              throw new AssertionError(x);
            }
            started[0] = System.nanoTime();
            return tx.execute("SELECT 2");
          }));
      long took = System.nanoTime() - started[0];
      assertEquals(Status.Code.DEADLINE_EXCEEDED, e.code(), e.toString());
      assertEquals(1, attempts.get());
      assertTrue(took < timeout.plusSeconds(1).toNanos(), "answered after " + took / 1e6 + " ms");
      g.kill(); // SIGKILL ends a stopped process too
    }
  }
}
