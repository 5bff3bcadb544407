package dev.txgate.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import io.grpc.Status;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * An Execute whose answer is lost after txgate committed it: toxiproxy (at
 * $TXGATE_TOXIPROXY, started by tests/clients/run.sh) in front of txgate drops
 * every byte of the answer, then the connection is cut. With its key the helper
 * re-sends it and gets the stored answer; without, the caller gets the transport's
 * UNAVAILABLE. Either way exactly one row exists.
 */
class LiveProxyTest {
  private static final HttpClient HTTP =
      HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

  private static String toxi(String method, String path, String body) {
    HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://"
        + System.getenv("TXGATE_TOXIPROXY") + path)).timeout(Duration.ofSeconds(10))
        .header("Content-Type", "application/json");
    b.method(method, body == null ? HttpRequest.BodyPublishers.noBody()
        : HttpRequest.BodyPublishers.ofString(body));
    try {
      HttpResponse<String> r = HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
      assertEquals(2, r.statusCode() / 100, "toxiproxy " + method + " " + path + ": " + r.body());
      return r.body();
    } catch (IOException | InterruptedException e) {
      throw new AssertionError(e);
    }
  }

  @ParameterizedTest(name = "with key: {0}")
  @ValueSource(booleans = {true, false})
  void executeWhoseAnswerIsLostAppliesOnce(boolean withKey) throws Exception {
    assumeTrue(System.getenv("TXGATE_TOXIPROXY") != null, "TXGATE_TOXIPROXY not set");
    String addr = System.getenv("TXGATE_ADDR");
    assumeTrue(addr != null, "TXGATE_ADDR not set");
    String name = "java-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    String created = toxi("POST", "/proxies", "{\"name\":\"" + name
        + "\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"" + addr + "\"}");
    Matcher m = Pattern.compile("\"listen\"\\s*:\\s*\"([^\"]+)\"").matcher(created);
    assertTrue(m.find(), created);
    String table = "java_lost_" + Long.toHexString(System.nanoTime());
    try (TxgateClient db = new TxgateClient(addr);
        TxgateClient via = new TxgateClient(m.group(1),
            io.grpc.InsecureChannelCredentials.create(),
            new TxgateClient.Options(Duration.ofSeconds(30), null, null))) {
      db.execute("CREATE TABLE " + table + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(16))");
      try {
        via.execute("SELECT 1"); // the channel is connected
        toxi("POST", "/proxies/" + name + "/toxics", "{\"name\":\"drop_answers\",\"type\":\"timeout\","
            + "\"stream\":\"downstream\",\"toxicity\":1.0,\"attributes\":{\"timeout\":0}}");
        String key = withKey ? TxgateClient.newIdempotencyKey() : "";
        CompletableFuture<Object> call = CompletableFuture.supplyAsync(() -> {
          try {
            return via.executeWith(key, "INSERT INTO " + table + " (v) VALUES (?)", "once");
          } catch (TxgateException e) {
            return e;
          }
        });
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (db.query("SELECT COUNT(*) AS c FROM " + table).get(0).getLong("c") == 0) {
          assertTrue(System.nanoTime() < end, "the INSERT never arrived");
          Thread.onSpinWait();
        }
        // Cut the connection whose answer was dropped, then let new ones through.
        toxi("POST", "/proxies/" + name, "{\"enabled\":false}");
        toxi("DELETE", "/proxies/" + name + "/toxics/drop_answers", null);
        toxi("POST", "/proxies/" + name, "{\"enabled\":true}");
        Object got = call.get(40, TimeUnit.SECONDS);

        List<Row> rows = db.query("SELECT id FROM " + table);
        assertEquals(1, rows.size(), "exactly one row");
        if (!withKey) {
          TxgateException e = (TxgateException) got;
          assertEquals(Status.Code.UNAVAILABLE, e.code(), e.toString());
          assertEquals("", e.domain());
          return;
        }
        assertFalse(got instanceof TxgateException, String.valueOf(got));
        TxgateClient.ExecResult r = (TxgateClient.ExecResult) got;
        assertTrue(r.calls() >= 2, "calls " + r.calls());
        assertEquals(key, r.idempotencyKey());
        assertEquals(1, r.result().affectedRows());
        assertEquals(rows.get(0).getLong("id"), r.result().lastInsertId());
      } finally {
        db.execute("DROP TABLE " + table);
      }
    } finally {
      toxi("DELETE", "/proxies/" + name, null);
    }
  }

  /**
   * runInTransaction never re-runs work once its commit was sent and the outcome is
   * unknown: the commit reaches txgate and applies, its answer is dropped and the
   * connection cut (a transport UNAVAILABLE after the commit): the caller gets that
   * error after one attempt, and the update exists once.
   */
  @Test
  void runInTransactionDoesNotReRunAfterTheCommitWasSent() throws Exception {
    assumeTrue(System.getenv("TXGATE_TOXIPROXY") != null, "TXGATE_TOXIPROXY not set");
    String addr = System.getenv("TXGATE_ADDR");
    assumeTrue(addr != null, "TXGATE_ADDR not set");
    String name = "java-commit-" + ProcessHandle.current().pid() + "-" + System.nanoTime();
    String created = toxi("POST", "/proxies", "{\"name\":\"" + name
        + "\",\"listen\":\"127.0.0.1:0\",\"upstream\":\"" + addr + "\"}");
    Matcher m = Pattern.compile("\"listen\"\\s*:\\s*\"([^\"]+)\"").matcher(created);
    assertTrue(m.find(), created);
    String table = "java_commit_" + Long.toHexString(System.nanoTime());
    try (TxgateClient db = new TxgateClient(addr); TxgateClient via = new TxgateClient(m.group(1))) {
      db.execute("CREATE TABLE " + table + " (id INT PRIMARY KEY, n INT)");
      try {
        db.execute("INSERT INTO " + table + " VALUES (1, 0)");
        AtomicInteger attempts = new AtomicInteger();
        CompletableFuture<Object> call = CompletableFuture.supplyAsync(() -> {
          try {
            return via.runInTransaction(TxgateClient.TxOptions.DEFAULT, tx -> {
              attempts.incrementAndGet();
              tx.execute("UPDATE " + table + " SET n = n + 1 WHERE id = 1");
              // From here on txgate's answers (the commit's) are dropped.
              toxi("POST", "/proxies/" + name + "/toxics", "{\"name\":\"drop_answers\","
                  + "\"type\":\"timeout\",\"stream\":\"downstream\",\"toxicity\":1.0,"
                  + "\"attributes\":{\"timeout\":0}}");
              return "committed?";
            });
          } catch (TxgateException e) {
            return e;
          }
        });
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (db.query("SELECT n FROM " + table).get(0).getLong("n") == 0) {
          assertTrue(System.nanoTime() < end, "the commit never applied");
          Thread.onSpinWait();
        }
        toxi("POST", "/proxies/" + name, "{\"enabled\":false}");
        Object got = call.get(40, TimeUnit.SECONDS);
        assertTrue(got instanceof TxgateException, String.valueOf(got));
        TxgateException e = (TxgateException) got;
        assertEquals(Status.Code.UNAVAILABLE, e.code(), e.toString());
        assertEquals("", e.domain());
        assertFalse(e.idempotencyKey().isEmpty());
        assertEquals(1, attempts.get());
        assertEquals(1L, db.query("SELECT n FROM " + table).get(0).getLong("n"));
      } finally {
        db.execute("DROP TABLE " + table);
      }
    } finally {
      toxi("DELETE", "/proxies/" + name, null);
    }
  }
}
