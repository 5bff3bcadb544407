package dev.txgate.client;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.google.protobuf.Message;
import dev.txgate.client.TxgateClient.TxOptions;
import dev.txgate.v1.ExecuteRequest;
import dev.txgate.v1.ReadRouting;
import dev.txgate.v1.RunTransactionRequest;
import dev.txgate.v1.StreamQueryRequest;
import dev.txgate.v1.TransactionRequest;
import io.grpc.CallOptions;
import io.grpc.Channel;
import io.grpc.ClientCall;
import io.grpc.ClientInterceptor;
import io.grpc.ForwardingClientCall.SimpleForwardingClientCall;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.MethodDescriptor;
import io.grpc.Status;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.regex.Pattern;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Read-your-writes tokens (README, "Reads on replicas") against the txgate at
 * $TXGATE_ADDR: a client keeps the latest write's causality token and sends it, with
 * its routing, on every read, stream and read-only transaction; an interceptor
 * records the requests that went out.
 */
class LiveCausalityTest {
  private static final Pattern TOKEN = Pattern.compile("^g1:\\d+-\\d+-\\d+(,\\d+-\\d+-\\d+)*$");

  private final List<Message> sent = Collections.synchronizedList(new ArrayList<>());
  private ManagedChannel channel;
  private TxgateClient db;

  @BeforeEach
  void connect() {
    String addr = System.getenv("TXGATE_ADDR");
    assumeTrue(addr != null, "TXGATE_ADDR names no live txgate (tests/clients/run.sh sets it)");
    ClientInterceptor recorder = new ClientInterceptor() {
      @Override
      public <Q, A> ClientCall<Q, A> interceptCall(MethodDescriptor<Q, A> method,
          CallOptions options, Channel next) {
        return new SimpleForwardingClientCall<Q, A>(next.newCall(method, options)) {
          @Override
          public void sendMessage(Q message) {
            sent.add((Message) message);
            super.sendMessage(message);
          }
        };
      }
    };
    channel = TxgateClient.channelBuilder(addr, InsecureChannelCredentials.create())
        .intercept(recorder).build();
    db = new TxgateClient(channel, TxgateClient.Options.DEFAULT);
    db.execute("CREATE TABLE IF NOT EXISTS java_causal (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)");
    db.clearCausalityToken();
  }

  @AfterEach
  void close() {
    if (channel != null) {
      channel.shutdownNow();
    }
  }

  private <T extends Message> T last(Class<T> type) {
    synchronized (sent) {
      for (int i = sent.size() - 1; i >= 0; i--) {
        if (type.isInstance(sent.get(i))) {
          return type.cast(sent.get(i));
        }
      }
    }
    throw new AssertionError("no " + type.getSimpleName() + " was sent");
  }

  @Test
  void aWriteTokenIsKeptAndSentWithTheNextReads() {
    db.execute("SELECT 1");
    assertEquals("", last(ExecuteRequest.class).getRead().getCausalityToken());
    db.execute("INSERT INTO java_causal (v) VALUES (?)", 1);
    String token = db.causalityToken();
    assertTrue(TOKEN.matcher(token).matches(), token);
    db.query("SELECT COUNT(*) FROM java_causal");
    assertEquals(token, last(ExecuteRequest.class).getRead().getCausalityToken());
    db.runTransaction(List.of(Statement.of("SELECT 1")), TxOptions.READ_ONLY);
    assertEquals(token, last(RunTransactionRequest.class).getOptions().getRead().getCausalityToken());
    db.streamQuery("SELECT v FROM java_causal", List.of(), row -> { });
    assertEquals(token, last(StreamQueryRequest.class).getRead().getCausalityToken());
    try (Transaction tx = db.begin(TxOptions.READ_ONLY)) {
      tx.run(Statement.of("SELECT 1"));
      tx.commit();
    }
    TransactionRequest begin = null;
    synchronized (sent) {
      for (Message m : sent) {
        if (m instanceof TransactionRequest r && r.hasBegin()) {
          begin = r;
        }
      }
    }
    assertEquals(token, begin.getBegin().getOptions().getRead().getCausalityToken());
    assertEquals(token, db.causalityToken()); // reads leave it
  }

  @Test
  void everyKindOfWriteMovesTheTokenOnAndARollbackLeavesIt() {
    db.execute("INSERT INTO java_causal (v) VALUES (2)");
    String first = db.causalityToken();
    db.runTransaction(List.of(Statement.of("INSERT INTO java_causal (v) VALUES (3)")), TxOptions.DEFAULT);
    String second = db.causalityToken();
    String third;
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      tx.run(Statement.of("INSERT INTO java_causal (v) VALUES (4)"));
      tx.commit();
      third = tx.causalityToken();
    }
    assertEquals(third, db.causalityToken());
    assertTrue(TOKEN.matcher(third).matches(), third);
    assertNotEquals(first, second);
    assertNotEquals(second, third);
    try (Transaction tx = db.begin(TxOptions.DEFAULT)) {
      tx.run(Statement.of("INSERT INTO java_causal (v) VALUES (5)"));
      tx.rollback();
    }
    assertEquals(third, db.causalityToken());
  }

  @Test
  void routingPerClientAndPerView() {
    assertEquals(ReadRouting.READ_ROUTING_UNSPECIFIED, db.routing());
    TxgateClient replica = db.withRouting(ReadRouting.READ_ROUTING_REPLICA);
    replica.execute("SELECT 1");
    assertEquals(ReadRouting.READ_ROUTING_REPLICA, last(ExecuteRequest.class).getRead().getRouting());
    replica.withRouting(ReadRouting.READ_ROUTING_PRIMARY).execute("SELECT 1");
    assertEquals(ReadRouting.READ_ROUTING_PRIMARY, last(ExecuteRequest.class).getRead().getRouting());
    // A view is the same session: its writes move the client's token.
    replica.execute("INSERT INTO java_causal (v) VALUES (6)");
    assertEquals(replica.causalityToken(), db.causalityToken());
    assertTrue(!db.causalityToken().isEmpty());
    replica.close(); // leaves the channel open
    db.execute("SELECT 1");
  }

  @Test
  void aBadTokenIsRefusedByTxgate() {
    db.observe("g1:0-1"); // not one txgate hands out
    TxgateException e = assertThrows(TxgateException.class, () -> db.execute("SELECT 1"));
    assertSame(Status.Code.INVALID_ARGUMENT, e.code());
    assertEquals("CAUSALITY_TOKEN_INVALID", e.reason());
  }
}
