package dev.txgate.client;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.txgate.client.TxgateClient.TxOptions;
import io.grpc.Status;
import java.math.BigDecimal;
import java.math.BigInteger;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.time.Instant;
import java.time.LocalDate;
import java.time.LocalDateTime;
import java.time.OffsetDateTime;
import java.time.ZoneOffset;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Live tests against the txgate at $TXGATE_ADDR (tests/clients/run.sh starts it).
 * Without TXGATE_ADDR they are skipped, so that a plain {@code mvn install} passes;
 * tests/clients/run.sh fails a run in which any test was skipped.
 */
class LiveTest {
  private static TxgateClient db;
  private static String table;

  @BeforeAll
  static void connect() {
    String addr = System.getenv("TXGATE_ADDR");
    if (addr == null) {
      return; // each test is reported skipped (requireTxgate), not left out unseen
    }
    db = new TxgateClient(addr);
    table = "java_live_" + Long.toHexString(System.nanoTime());
    db.execute("CREATE TABLE " + table
        + " (id BIGINT PRIMARY KEY AUTO_INCREMENT, n BIGINT NOT NULL, note VARCHAR(100))");
  }

  @BeforeEach
  void requireTxgate() {
    assumeTrue(db != null, "TXGATE_ADDR names no live txgate (tests/clients/run.sh sets it)");
  }

  @AfterAll
  static void close() {
    if (db != null) {
      db.execute("DROP TABLE IF EXISTS " + table);
      db.close();
    }
  }

  @Test
  void serviceConfigIsOneMergedConfig() {
    Map<String, ?> c = TxgateClient.serviceConfig();
    assertEquals(List.of(Map.of("round_robin", Map.of())), c.get("loadBalancingConfig"));
    assertNotNull(c.get("methodConfig"));
    assertNotNull(c.get("retryThrottling"));
    // grpc-java has the policy the config names (else the channel would reject it).
    assertNotNull(io.grpc.LoadBalancerRegistry.getDefaultRegistry().getProvider("round_robin"));
  }

  @Test
  void valuesRoundTrip() {
    BigInteger maxU64 = new BigInteger("18446744073709551615");
    Instant instant = Instant.parse("2026-11-29T17:00:00.123456Z");
    OffsetDateTime newYork = OffsetDateTime.of(2026, 11, 29, 12, 0, 0, 0, ZoneOffset.ofHours(-5));
    byte[] bytes = {0, 1, (byte) 0xff};
    Row r = db.query("SELECT ? AS nul, ? AS i, ? AS u, ? AS d, ? AS s, ? AS b, ? AS dc, ? AS dt,"
        + " ? AS ny, ? AS day, ? AS t, ? AS f, ? AS yes",
        null, -42L, maxU64, new BigDecimal("12345678901234567890.000000001"), "héllo ✓", bytes,
        new BigDecimal("-0.50"), instant, newYork, LocalDate.of(2024, 2, 29),
        Duration.ofHours(-838).minusMinutes(59).minusSeconds(59), 1.5d, true).get(0);
    assertNull(r.get("nul"));
    assertEquals(-42L, r.get("i"));
    assertEquals(maxU64, r.get("u"));
    assertEquals(new BigDecimal("12345678901234567890.000000001"), r.get("d"));
    assertEquals("héllo ✓", r.get("s"));
    assertArrayEquals(bytes, (byte[]) r.get("b"));
    assertEquals(new BigDecimal("-0.50"), r.getBigDecimal("dc"));
    assertEquals(instant, r.getInstant("dt"));
    // An OffsetDateTime is bound in UTC: 12:00 -05:00 is 17:00 UTC.
    assertEquals(LocalDateTime.of(2026, 11, 29, 17, 0), r.get("ny"));
    assertEquals(LocalDate.of(2024, 2, 29), r.get("day"));
    assertEquals(Duration.ofHours(-838).minusMinutes(59).minusSeconds(59), r.get("t"));
    assertEquals(1.5d, r.get("f"));
    assertEquals(List.of("nul", "i", "u", "d", "s", "b", "dc", "dt", "ny", "day", "t", "f", "yes"),
        new ArrayList<>(r.asMap().keySet()));
  }

  @Test
  void typedColumnsOfATable() {
    String t = table + "_types";
    db.execute("CREATE TABLE " + t + " (u BIGINT UNSIGNED, d DECIMAL(10,2), ts DATETIME(6),"
        + " j JSON, bits BIT(8), tm TIME(6))");
    try {
      db.execute("INSERT INTO " + t + " VALUES (?, ?, ?, ?, ?, ?)", Values.uint64(-1L),
          new BigDecimal("3.10"), LocalDateTime.of(2000, 1, 2, 3, 4, 5, 6000),
          new Values.Json("{\"a\": [1, 2]}"), new Values.Bits(0xa5), Duration.ofMillis(-1500));
      Row r = db.query("SELECT * FROM " + t).get(0);
      assertEquals(new BigInteger("18446744073709551615"), r.get("u"));
      assertEquals(new BigDecimal("3.10"), r.get("d"));
      assertEquals(LocalDateTime.of(2000, 1, 2, 3, 4, 5, 6000), r.get("ts"));
      assertEquals(new Values.Json("{\"a\": [1, 2]}"), r.get("j"));
      assertEquals(new Values.Bits(0xa5), r.get("bits"));
      assertEquals(Duration.ofMillis(-1500), r.get("tm"));
      assertThrows(ArithmeticException.class, () -> r.getLong("u"));
    } finally {
      db.execute("DROP TABLE " + t);
    }
  }

  /**
   * Labels match case-insensitively (as JDBC's); of duplicate names get returns the
   * first and asMap keeps the last (as Node); a typed getter on another type, or
   * getInstant on a zero DATETIME, throws an IllegalStateException naming the
   * column and the type; toString shows bytes in hex.
   */
  @Test
  void rowLabelsTypesAndText() {
    Row r = db.query("SELECT 1 AS ID, 2.5e0 AS d, CAST('0000-00-00 00:00:00' AS DATETIME) AS z,"
        + " 'first' AS dup, 'last' AS dup, x'00ff' AS b").get(0);
    assertEquals(1L, r.get("id"));
    assertEquals(1L, r.getLong("Id"));
    assertEquals("first", r.get("dup"));
    assertEquals("first", r.get("DUP"));
    assertEquals("last", r.get(4));
    assertEquals("last", r.asMap().get("dup"));
    assertEquals(List.of("ID", "d", "z", "dup", "b"), new ArrayList<>(r.asMap().keySet()));
    IllegalStateException e = assertThrows(IllegalStateException.class, () -> r.getLong("d"));
    assertTrue(e.getMessage().contains("column d is a java.lang.Double"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> r.getBigDecimal("d"));
    assertTrue(e.getMessage().contains("column d is a java.lang.Double"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> r.getInstant("z"));
    assertTrue(e.getMessage().contains("column z holds a zero DATETIME"), e.getMessage());
    e = assertThrows(IllegalStateException.class, () -> r.getInstant("b"));
    assertTrue(e.getMessage().contains("column b is a byte[]"), e.getMessage());
    assertThrows(IllegalArgumentException.class, () -> r.get("nope"));
    assertTrue(r.toString().endsWith(", dup=last, b=0x00ff}"), r.toString());
    assertTrue(r.toString().startsWith("{ID=1, d=2.5, z="), r.toString());
  }

  @Test
  void badParameterNamesItsPosition() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> db.execute("SELECT ?, ?", 1L, new Object()));
    assertTrue(e.getMessage().startsWith("parameter 2: "), e.getMessage());
  }

  @Test
  void writeCarriesAKeyAndIsExactlyOnce() {
    TxgateClient.ExecResult first = db.executeWith("java-key-" + System.nanoTime(),
        "INSERT INTO " + table + " (n, note) VALUES (?, ?)", 7L, "once");
    assertEquals(1, first.calls());
    assertEquals(1, first.result().affectedRows());
    // The same key again: txgate answers with the stored result and runs nothing.
    TxgateClient.ExecResult again = db.executeWith(first.idempotencyKey(),
        "INSERT INTO " + table + " (n, note) VALUES (?, ?)", 7L, "once");
    assertEquals(first.result().lastInsertId(), again.result().lastInsertId());
    assertEquals(1L, db.query("SELECT COUNT(*) AS c FROM " + table + " WHERE note = 'once'")
        .get(0).getLong("c"));
    // A plain execute generates a fresh UUID key per call.
    Result r = db.execute("INSERT INTO " + table + " (n, note) VALUES (1, 'fresh')");
    assertEquals(1, r.affectedRows());
  }

  @Test
  void mysqlErrorCarriesItsDetail() {
    TxgateException e = assertThrows(TxgateException.class,
        () -> db.execute("SELECT * FROM java_no_such_table"));
    assertEquals(Status.Code.NOT_FOUND, e.code());
    assertEquals(TxgateException.DOMAIN, e.domain());
    assertEquals(1146, e.mysqlErrno());
    assertEquals("42S02", e.sqlState());
    assertFalse(e.idempotencyKey().isEmpty());
    assertFalse(TxgateClient.retryable(e, true));
  }

  @Test
  void runTransactionAndExpectation() {
    long id = db.execute("INSERT INTO " + table + " (n, note) VALUES (10, 'acct')").lastInsertId();
    TxgateClient.TransactionResult ok = db.runTransaction(List.of(
        Statement.of("UPDATE " + table + " SET n = n - ? WHERE id = ? AND n >= ?", 4L, id, 4L)
            .expectMinAffectedRows(1),
        Statement.of("SELECT n FROM " + table + " WHERE id = ?", id)), TxOptions.DEFAULT);
    assertEquals(1, ok.calls());
    assertFalse(ok.idempotencyKey().isEmpty());
    assertEquals(6L, ok.results().get(1).rows().get(0).getLong("n"));

    TxgateException e = assertThrows(TxgateException.class, () -> db.runTransaction(List.of(
        Statement.of("UPDATE " + table + " SET n = 0 WHERE id = ?", id),
        Statement.of("UPDATE " + table + " SET n = n - ? WHERE id = ? AND n >= ?", 100L, id, 100L)
            .expectMinAffectedRows(1)), TxOptions.DEFAULT));
    assertEquals(Status.Code.FAILED_PRECONDITION, e.code());
    assertTrue(e.expectationFailed());
    assertEquals(2, e.statementIndex());
    assertEquals(6L, db.query("SELECT n FROM " + table + " WHERE id = ?", id).get(0).getLong("n"));

    TxgateClient.TransactionResult ro = db.runTransaction(
        List.of(Statement.of("SELECT COUNT(*) FROM " + table)), TxOptions.READ_ONLY);
    assertEquals("", ro.idempotencyKey());
  }

  @Test
  void interactiveTransactionRollsBackOnClose() {
    long id = db.execute("INSERT INTO " + table + " (n, note) VALUES (1, 'tx')").lastInsertId();
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      assertEquals(1, tx.execute("UPDATE " + table + " SET n = 99 WHERE id = ?", id).affectedRows());
      assertEquals(99L, tx.execute("SELECT n FROM " + table + " WHERE id = ?", id).rows().get(0)
          .getLong("n"));
    }
    assertEquals(1L, db.query("SELECT n FROM " + table + " WHERE id = ?", id).get(0).getLong("n"));

    String key;
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      tx.execute("UPDATE " + table + " SET n = 2 WHERE id = ?", id);
      key = tx.commit();
      assertEquals("committed", tx.state());
    }
    assertFalse(key.isEmpty());
    assertEquals(2L, db.query("SELECT n FROM " + table + " WHERE id = ?", id).get(0).getLong("n"));

    Transaction failed = db.begin(TxOptions.DEFAULT);
    TxgateException e = assertThrows(TxgateException.class,
        () -> failed.execute("SELECT * FROM java_no_such_table"));
    assertEquals(1146, e.mysqlErrno());
    failed.close();
  }

  /** A second step while one is in progress (another thread) is refused; the first completes. */
  @Test
  void aTransactionRefusesAConcurrentStep() throws Exception {
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      CompletableFuture<Result> slow = CompletableFuture.supplyAsync(
          () -> tx.execute("SELECT SLEEP(1) AS s /* java-concurrent-step */"));
      awaitProcess("java-concurrent", "-step");
      IllegalStateException e = assertThrows(IllegalStateException.class,
          () -> tx.execute("SELECT 2"));
      assertTrue(e.getMessage().contains("one thread at a time"), e.getMessage());
      assertEquals(0L, slow.get(30, TimeUnit.SECONDS).rows().get(0).getLong("s"));
      assertEquals("open", tx.state());
      assertEquals(3L, tx.execute("SELECT 3 AS x").rows().get(0).getLong("x"));
    }
  }

  @Test
  void streamQueryReassemblesChunkedValues() {
    List<Row> rows = new ArrayList<>();
    TxgateClient.StreamSummary s = db.streamQuery(
        "SELECT seq, REPEAT('x', ?) AS big FROM seq_1_to_3", List.of(5L * 1024 * 1024), rows::add);
    assertEquals(3, s.rows());
    assertEquals(List.of("seq", "big"), Result.names(s.columns()));
    for (int i = 0; i < 3; i++) {
      assertEquals(i + 1L, rows.get(i).getLong("seq"));
      assertEquals(5 * 1024 * 1024, rows.get(i).getString("big").length());
    }
    byte[] blob = new byte[3 * 1024 * 1024];
    Arrays.fill(blob, (byte) 'b');
    List<Row> b = new ArrayList<>();
    db.streamQuery("SELECT CAST(? AS BINARY) AS v", List.of(blob), b::add);
    assertArrayEquals(blob, (byte[]) b.get(0).get("v"));
    assertEquals("bbb", new String((byte[]) b.get(0).get("v"), 0, 3, StandardCharsets.US_ASCII));
  }

  @Test
  void streamQueryStopsWhenTheConsumerThrows() {
    class Enough extends RuntimeException {
      private static final long serialVersionUID = 1L;
    }
    AtomicInteger seen = new AtomicInteger();
    assertThrows(Enough.class, () -> db.streamQuery("SELECT seq FROM seq_1_to_100000",
        List.of(), r -> {
          if (seen.incrementAndGet() == 10) {
            throw new Enough();
          }
        }));
    assertEquals(10, seen.get());
    // The client is still usable.
    assertEquals(1L, db.query("SELECT 1 AS one").get(0).getLong("one"));
  }

  /**
   * A real deadlock (1213) ends the first attempt ABORTED; runInTransaction rolls it
   * back and re-runs the whole function, which then commits.
   */
  @Test
  void runInTransactionReRunsOnDeadlock() throws Exception {
    long a = db.execute("INSERT INTO " + table + " (n, note) VALUES (0, 'dl-a')").lastInsertId();
    long b = db.execute("INSERT INTO " + table + " (n, note) VALUES (0, 'dl-b')").lastInsertId();
    String heavy = table + "_heavy";
    db.execute("CREATE TABLE " + heavy + " (id INT PRIMARY KEY)");
    CountDownLatch firstHoldsA = new CountDownLatch(1);
    // The other transaction: makes itself heavy (InnoDB rolls back the lighter
    // transaction of a deadlock), locks b, then waits for a, which the first
    // attempt holds; it commits once the deadlock has rolled that attempt back.
    CompletableFuture<Void> other = CompletableFuture.runAsync(() -> {
      try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
        tx.execute("INSERT INTO " + heavy + " SELECT seq FROM seq_1_to_200");
        tx.execute("UPDATE " + table + " SET n = n + 10 WHERE id = ?", b);
        await(firstHoldsA);
        tx.execute("UPDATE " + table + " SET n = n + 10 WHERE id = ? /* java-deadlock-wait */", a);
        tx.commit();
      }
    });
    AtomicInteger attempts = new AtomicInteger();
    try {
      String out = db.runInTransaction(TxOptions.DEFAULT, tx -> {
        int attempt = attempts.incrementAndGet();
        tx.execute("UPDATE " + table + " SET n = n + 1 WHERE id = ?", a);
        if (attempt == 1) {
          firstHoldsA.countDown();
          awaitProcess("java-deadlock", "-wait");
        }
        tx.execute("UPDATE " + table + " SET n = n + 1 WHERE id = ?", b);
        return "attempt " + attempt;
      });
      assertEquals("attempt 2", out);
    } finally {
      firstHoldsA.countDown();
      other.get(30, TimeUnit.SECONDS);
      db.execute("DROP TABLE " + heavy);
    }
    assertEquals(2, attempts.get());
    assertEquals(11L, db.query("SELECT n FROM " + table + " WHERE id = ?", a).get(0).getLong("n"));
    assertEquals(11L, db.query("SELECT n FROM " + table + " WHERE id = ?", b).get(0).getLong("n"));
  }

  /**
   * Two concurrent transfers lock rows in opposite order, and each catches and
   * ignores the error of its second UPDATE (a deadlock, 1213, for the one InnoDB
   * picks). The victim's transaction is failed: its commit throws the deadlock
   * again, and runInTransaction re-runs it. Both transfers are applied exactly once.
   */
  @Test
  void swallowedDeadlockIsReRunAndAppliedOnce() throws Exception {
    long r1 = db.execute("INSERT INTO " + table + " (n, note) VALUES (100, 'sw-1')").lastInsertId();
    long r2 = db.execute("INSERT INTO " + table + " (n, note) VALUES (100, 'sw-2')").lastInsertId();
    CountDownLatch aHolds1 = new CountDownLatch(1);
    CountDownLatch bHolds2 = new CountDownLatch(1);
    AtomicInteger attemptsA = new AtomicInteger();
    AtomicInteger attemptsB = new AtomicInteger();
    List<TxgateException> swallowed = java.util.Collections.synchronizedList(new ArrayList<>());
    String upd = "UPDATE " + table + " SET n = n + ? WHERE id = ?";
    CompletableFuture<String> a = CompletableFuture.supplyAsync(() ->
        db.runInTransaction(TxOptions.DEFAULT, tx -> {
          boolean first = attemptsA.incrementAndGet() == 1;
          tx.execute(upd, -5L, r1);
          if (first) {
            aHolds1.countDown();
            await(bHolds2);
          }
          try {
            tx.execute(upd + " /* java-swallow-wait */", 5L, r2);
          } catch (TxgateException e) {
            swallowed.add(e); // ignored, as careless code does
          }
          return "a";
        }));
    CompletableFuture<String> b = CompletableFuture.supplyAsync(() ->
        db.runInTransaction(TxOptions.DEFAULT, tx -> {
          boolean first = attemptsB.incrementAndGet() == 1;
          tx.execute(upd, -7L, r2);
          if (first) {
            bHolds2.countDown();
            await(aHolds1);
            awaitProcess("java-swallow", "-wait");
          }
          try {
            tx.execute(upd, 7L, r1);
          } catch (TxgateException e) {
            swallowed.add(e);
          }
          return "b";
        }));
    assertEquals("a", a.get(60, TimeUnit.SECONDS));
    assertEquals("b", b.get(60, TimeUnit.SECONDS));
    assertEquals(1, swallowed.size(), swallowed.toString());
    assertEquals(Status.Code.ABORTED, swallowed.get(0).code());
    assertEquals(1213, swallowed.get(0).mysqlErrno());
    assertEquals(3, attemptsA.get() + attemptsB.get());
    assertEquals(102L, db.query("SELECT n FROM " + table + " WHERE id = ?", r1).get(0).getLong("n"));
    assertEquals(98L, db.query("SELECT n FROM " + table + " WHERE id = ?", r2).get(0).getLong("n"));
  }

  /**
   * A duplicate key (1062) that work catches and ignores: every later step throws
   * it again (code, reason, errno, message; the first as cause), runInTransaction
   * throws it without a re-run, and nothing is committed.
   */
  @Test
  void swallowedDuplicateKeySurfacesAs1062() {
    long id = db.execute("INSERT INTO " + table + " (n, note) VALUES (1, 'dup')").lastInsertId();
    String ins = "INSERT INTO " + table + " (id, n, note) VALUES (?, ?, ?)";
    TxgateException[] first = new TxgateException[1];
    AtomicInteger attempts = new AtomicInteger();
    TxgateException e = assertThrows(TxgateException.class,
        () -> db.runInTransaction(TxOptions.DEFAULT, tx -> {
          attempts.incrementAndGet();
          tx.execute("UPDATE " + table + " SET note = 'dup-changed' WHERE id = ?", id);
          try {
            tx.execute(ins, id, 2L, "dup-again");
          } catch (TxgateException x) {
            first[0] = x;
          }
          TxgateException next = assertThrows(TxgateException.class, () -> tx.execute("SELECT 1"));
          assertSame(first[0], next.getCause());
          assertEquals(first[0].getMessage(), next.getMessage());
          assertEquals(first[0].code(), next.code());
          assertEquals(first[0].reason(), next.reason());
          assertEquals(1062, next.mysqlErrno());
          assertEquals("failed", tx.state());
          assertSame(first[0], tx.error());
          return "swallowed";
        }));
    assertEquals(1, attempts.get());
    assertEquals(1062, first[0].mysqlErrno());
    assertSame(first[0], e);
    assertEquals(1062, e.mysqlErrno());
    assertFalse(first[0].mysqlMessage().isEmpty());
    assertTrue(e.getMessage().contains(first[0].status().getDescription()), e.getMessage());
    assertEquals("dup", db.query("SELECT note FROM " + table + " WHERE id = ?", id).get(0)
        .getString("note"));

    // A commit of such a transaction throws it too, with the commit's key.
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      assertThrows(TxgateException.class, () -> tx.execute(ins, id, 2L, "dup-again"));
      TxgateException c = assertThrows(TxgateException.class, () -> tx.commit("java-dup-key"));
      assertEquals(1062, c.mysqlErrno());
      assertEquals(tx.error().getMessage(), c.getMessage());
      assertEquals(tx.error().mysqlMessage(), c.mysqlMessage());
      assertEquals(tx.error().status().getDescription(), c.status().getDescription());
      assertEquals("java-dup-key", c.idempotencyKey());
    }
  }

  @Test
  void runInTransactionIsBounded() {
    AtomicInteger attempts = new AtomicInteger();
    TxgateException e = assertThrows(TxgateException.class,
        () -> db.runInTransaction(TxOptions.DEFAULT, 3, tx -> {
          attempts.incrementAndGet();
          throw new TxgateException(Status.ABORTED.withDescription("test"), null, "", false, null);
        }));
    assertEquals(Status.Code.ABORTED, e.code());
    assertEquals(3, attempts.get());
    // Any other error ends it at once.
    attempts.set(0);
    assertThrows(TxgateException.class, () -> db.runInTransaction(TxOptions.DEFAULT, tx -> {
      attempts.incrementAndGet();
      return tx.execute("SELECT * FROM java_no_such_table");
    }));
    assertEquals(1, attempts.get());
    // An exception of work's own (the transaction not failed) is thrown as it is.
    attempts.set(0);
    IllegalStateException own = assertThrows(IllegalStateException.class,
        () -> db.runInTransaction(TxOptions.DEFAULT, tx -> {
          attempts.incrementAndGet();
          tx.execute("SELECT 1");
          throw new IllegalStateException("mine");
        }));
    assertEquals("mine", own.getMessage());
    assertEquals(1, attempts.get());
  }

  @Test
  void aCallTheApplicationCancelsIsNotRetried() throws Exception {
    io.grpc.Context.CancellableContext ctx = io.grpc.Context.current().withCancellation();
    CompletableFuture<TxgateException> call = CompletableFuture.supplyAsync(() -> {
      try {
        ctx.run(() -> db.execute("SELECT SLEEP(20) /* java-cancel-me */"));
        return null;
      } catch (TxgateException e) {
        return e;
      }
    });
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
    while (db.query("SELECT COUNT(*) AS c FROM information_schema.PROCESSLIST"
        + " WHERE INFO LIKE CONCAT('%java-cancel', '-me%')").get(0).getLong("c") == 0) {
      assertTrue(System.nanoTime() < end, "the SLEEP never started");
      Thread.onSpinWait();
    }
    ctx.cancel(null);
    TxgateException e = call.get(10, TimeUnit.SECONDS);
    assertNotNull(e, "the cancelled call returned a result");
    assertEquals(Status.Code.CANCELLED, e.code());
    assertTrue(e.cancelledLocally());
    assertFalse(TxgateClient.retryable(e, true));
  }

  @Test
  void retryRule() {
    TxgateException transport = new TxgateException(Status.UNAVAILABLE, null, "", false, null);
    assertTrue(TxgateClient.retryable(transport, true));
    assertFalse(TxgateClient.retryable(transport, false));
    TxgateException ours = new TxgateException(Status.UNAVAILABLE,
        com.google.rpc.ErrorInfo.newBuilder().setDomain(TxgateException.DOMAIN)
            .setReason("DATABASE_UNAVAILABLE").build(), "", false, null);
    assertTrue(TxgateClient.retryable(ours, false));
    TxgateException unknown = new TxgateException(Status.UNKNOWN,
        com.google.rpc.ErrorInfo.newBuilder().setDomain(TxgateException.DOMAIN)
            .setReason(TxgateException.REASON_COMMIT_OUTCOME_UNKNOWN).build(), "", false, null);
    assertTrue(TxgateClient.retryable(unknown, true));
    assertFalse(TxgateClient.retryable(unknown, false));
    TxgateException drain = new TxgateException(Status.CANCELLED, null, "", false, null);
    assertTrue(TxgateClient.retryable(drain, true));
    TxgateException mine = new TxgateException(Status.CANCELLED, null, "", true, null);
    assertFalse(TxgateClient.retryable(mine, true));
    assertNotEquals(Status.Code.OK, transport.code());
  }

  /** An ipv4: address list (grpc-js's syntax) is refused with a message that says why. */
  @Test
  void ipv4ListTargetIsRefusedClearly() {
    IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
        () -> new TxgateClient("ipv4:127.0.0.1:1,127.0.0.1:2"));
    assertTrue(e.getMessage().contains("dns:///"), e.getMessage());
    // A dns:/// target of the live txgate works (round_robin over its addresses).
    try (TxgateClient c = new TxgateClient("dns:///" + System.getenv("TXGATE_ADDR"))) {
      assertEquals(1L, c.query("SELECT 1 AS one").get(0).getLong("one"));
    }
  }

  /** runInTransaction's re-run rule: the same as Node's, Python's and Go's. */
  @Test
  void rerunRule() {
    java.util.function.BiFunction<Status, String, TxgateException> ours = (st, reason) ->
        new TxgateException(st, com.google.rpc.ErrorInfo.newBuilder()
            .setDomain(TxgateException.DOMAIN).setReason(reason).build(), "", false, null);
    assertTrue(TxgateClient.rerunnable(ours.apply(Status.ABORTED, "MYSQL_ERROR"), false));
    assertTrue(TxgateClient.rerunnable(ours.apply(Status.ABORTED, "TRANSACTION_LOST"), false));
    for (String caused : List.of("TRANSACTION_IDLE_TIMEOUT", "STREAM_WRITE_TIMEOUT",
        "TRANSACTION_NOT_COMMITTED")) {
      assertFalse(TxgateClient.rerunnable(ours.apply(Status.ABORTED, caused), true), caused);
    }
    assertTrue(TxgateClient.rerunnable(ours.apply(Status.UNAVAILABLE, "SERVER_SHUTTING_DOWN"),
        false));
    TxgateException transport = new TxgateException(Status.UNAVAILABLE, null, "", false, null);
    assertTrue(TxgateClient.rerunnable(transport, true));
    assertFalse(TxgateClient.rerunnable(transport, false));
    TxgateException cut = new TxgateException(Status.CANCELLED, null, "", false, null);
    assertTrue(TxgateClient.rerunnable(cut, true));
    assertFalse(TxgateClient.rerunnable(
        new TxgateException(Status.CANCELLED, null, "", true, null), true));
    assertFalse(TxgateClient.rerunnable(ours.apply(Status.CANCELLED, "CANCELLED"), true));
    assertFalse(TxgateClient.rerunnable(
        ours.apply(Status.UNKNOWN, TxgateException.REASON_COMMIT_OUTCOME_UNKNOWN), true));
    assertFalse(TxgateClient.rerunnable(
        new TxgateException(Status.DEADLINE_EXCEEDED, null, "", false, null), true));
    assertFalse(TxgateClient.rerunnable(ours.apply(Status.ALREADY_EXISTS, "MYSQL_ERROR"), true));
  }

  private static void await(CountDownLatch l) {
    try {
      assertTrue(l.await(30, TimeUnit.SECONDS), "the first attempt never locked row a");
    } catch (InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  /**
   * Waits (a condition, bounded by 30 s) until a statement tagged {@code head +
   * tail} is running, e.g. waiting for a lock another transaction holds (the tag
   * is split so that this query does not match itself; txgate's user sees its own
   * sessions in PROCESSLIST without the PROCESS privilege).
   */
  static void awaitProcess(String head, String tail) {
    long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(30);
    while (db.query("SELECT COUNT(*) AS c FROM information_schema.PROCESSLIST"
        + " WHERE INFO LIKE CONCAT('%', ?, ?, '%')", head, tail).get(0).getLong("c") == 0) {
      assertTrue(System.nanoTime() < end, "no statement " + head + tail + " ever ran");
      Thread.onSpinWait();
    }
  }
}
