package dev.txgate.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.File;
import java.io.IOException;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;

/**
 * A txgate-server of the test's own, to stop (kill -STOP), kill and restart: started
 * as tests/support/lib.sh's start_txgate does, from $TXGATE_BUILD_DIR against the
 * test MariaDB ($TXGATE_TEST_DB_DIR, $TXGATE_TEST_MYSQL_PORT), on a free port, its
 * log in $TXGATE_LOG_DIR/txgate-java-PORT.log. Without those variables the test is
 * skipped (tests/clients/run.sh fails a run with skipped tests).
 */
final class OwnTxgate implements AutoCloseable {
  private final Path server;
  private final Path dbDir;
  private final String mysqlPort;
  private final Path log;
  final int port;
  private Process process;

  OwnTxgate() throws IOException {
    String build = System.getenv("TXGATE_BUILD_DIR");
    String db = System.getenv("TXGATE_TEST_DB_DIR");
    mysqlPort = System.getenv("TXGATE_TEST_MYSQL_PORT");
    assumeTrue(System.getenv("TXGATE_ADDR") != null && build != null && db != null
        && mysqlPort != null,
        "TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR and TXGATE_TEST_MYSQL_PORT name a txgate to start");
    server = Path.of(build, "txgate-server");
    dbDir = Path.of(db);
    try (ServerSocket s = new ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
      port = s.getLocalPort();
    }
    log = Path.of(System.getenv().getOrDefault("TXGATE_LOG_DIR", "/tmp"),
        "txgate-java-" + port + ".log");
    start();
  }

  String target() {
    return "127.0.0.1:" + port;
  }

  /** Starts txgate and waits (up to 30 s) until it answers a statement. */
  void start() throws IOException {
    ProcessBuilder b = new ProcessBuilder(server.toString(), "--listen=127.0.0.1:" + port,
        "--mysql_port=" + mysqlPort, "--mysql_user=txgate", "--mysql_database=txgate",
        "--mysql_ro_user=txgate_ro", "--mysql_ro_password_file=" + dbDir.resolve("ro-password"))
        .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile()));
    b.environment().put("TXGATE_MYSQL_PASSWORD",
        Files.readString(dbDir.resolve("password")).trim());
    process = b.start();
    // A client of its own: its execute re-sends a keyed call while txgate is not
    // yet listening (UNAVAILABLE), within its 30 s.
    try (TxgateClient c = new TxgateClient(target(), io.grpc.InsecureChannelCredentials.create(),
        new TxgateClient.Options(Duration.ofSeconds(30), null, null))) {
      assertEquals(1L, c.query("SELECT 1 AS one").get(0).getLong("one"));
    }
  }

  /** Sends {@code signal} (STOP, CONT, KILL...) with kill(1). */
  void signal(String signal) throws IOException, InterruptedException {
    Process k = new ProcessBuilder("kill", "-" + signal, Long.toString(process.pid()))
        .redirectErrorStream(true).redirectOutput(new File("/dev/null")).start();
    assertEquals(0, k.waitFor());
  }

  /** SIGKILL, and waits for the exit. */
  void kill() throws InterruptedException {
    process.destroyForcibly();
    process.waitFor(30, TimeUnit.SECONDS);
  }

  @Override
  public void close() {
    if (process != null && process.isAlive()) {
      process.destroyForcibly();
    }
  }

}
