package dev.txgate.client;

import com.google.protobuf.Struct;
import com.google.protobuf.util.JsonFormat;
import dev.txgate.v1.DatabaseServiceGrpc;
import dev.txgate.v1.ExecuteRequest;
import dev.txgate.v1.ExecuteResponse;
import dev.txgate.v1.IsolationLevel;
import dev.txgate.v1.ReadOptions;
import dev.txgate.v1.ReadRouting;
import dev.txgate.v1.ResultSet;
import dev.txgate.v1.RunTransactionRequest;
import dev.txgate.v1.RunTransactionResponse;
import dev.txgate.v1.StreamQueryRequest;
import dev.txgate.v1.StreamQueryResponse;
import dev.txgate.v1.TransactionOptions;
import io.grpc.ChannelCredentials;
import io.grpc.Context;
import io.grpc.Deadline;
import io.grpc.Grpc;
import io.grpc.InsecureChannelCredentials;
import io.grpc.ManagedChannel;
import io.grpc.ManagedChannelBuilder;
import io.grpc.Status;
import io.grpc.StatusRuntimeException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ThreadLocalRandom;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;
import java.util.function.Consumer;

/**
 * A txgate client: the {@code txgate.v1.DatabaseService} stub on a channel with
 * txgate's service config, plus exactly-once {@link #execute} and {@link
 * #runTransaction} with retries, {@link #streamQuery} with chunked values
 * reassembled, and interactive transactions ({@link #begin}, {@link
 * #runInTransaction}). Thread-safe; close it to shut its channel down.
 *
 * <p>Retries follow client/README.md, "Retries: who retries what" ({@link
 * #retryable}): every write carries a fresh idempotency key (a UUIDv4), sent
 * unchanged in each attempt, and a call is re-sent only when that cannot apply it
 * twice. Backoff: exponential with jitter, {@code initialBackoff} (50 ms) doubling
 * to {@code maxBackoff} (2 s), all attempts within {@code timeout} (30 s).
 */
public final class TxgateClient implements AutoCloseable {
  private static final String SERVICE_CONFIG_RESOURCE = "/dev/txgate/v1/service_config.json";

  /**
   * Per-call settings: {@code timeout} bounds all attempts of one call (and a whole
   * {@link #streamQuery}); the backoff between attempts starts at {@code
   * initialBackoff} and doubles up to {@code maxBackoff}. A null or non-positive
   * one takes its default.
   */
  public record Options(Duration timeout, Duration initialBackoff, Duration maxBackoff) {
    /** Replaces a null or non-positive setting with its default. */
    public Options {
      timeout = orDefault(timeout, Duration.ofSeconds(30));
      initialBackoff = orDefault(initialBackoff, Duration.ofMillis(50));
      maxBackoff = orDefault(maxBackoff, Duration.ofSeconds(2));
    }

    private static Duration orDefault(Duration d, Duration def) {
      return d == null || d.isZero() || d.isNegative() ? def : d;
    }

    /** 30 s overall, 50 ms doubling to 2 s. */
    public static final Options DEFAULT =
        new Options(Duration.ofSeconds(30), Duration.ofMillis(50), Duration.ofSeconds(2));
  }

  private final ManagedChannel channel;
  private final boolean ownsChannel;
  private final DatabaseServiceGrpc.DatabaseServiceBlockingStub blocking;
  private final DatabaseServiceGrpc.DatabaseServiceStub async;
  private final Options options;
  // The session's latest write token, shared with withRouting's views.
  private final AtomicReference<String> causalityToken;
  private final ReadRouting routing;

  /**
   * A client of {@code target} over plaintext: "host:port", or "dns:///name:port"
   * for round_robin over every address of the name (see {@link #channelBuilder}).
   */
  public TxgateClient(String target) {
    this(channelBuilder(target, InsecureChannelCredentials.create()).build(), true, Options.DEFAULT);
  }

  /** A client of {@code target} with the given credentials (TLS, tokens) and options. */
  public TxgateClient(String target, ChannelCredentials credentials, Options options) {
    this(channelBuilder(target, credentials).build(), true, options);
  }

  /**
   * A client on a channel of the caller's (built with {@link #channelBuilder} or
   * {@link #serviceConfig} so that it has txgate's service config); not closed by
   * {@link #close}.
   */
  public TxgateClient(ManagedChannel channel, Options options) {
    this(channel, false, options);
  }

  private TxgateClient(ManagedChannel channel, boolean ownsChannel, Options options) {
    this(channel, ownsChannel, options, new AtomicReference<>(""),
        ReadRouting.READ_ROUTING_UNSPECIFIED);
  }

  private TxgateClient(ManagedChannel channel, boolean ownsChannel, Options options,
      AtomicReference<String> causalityToken, ReadRouting routing) {
    this.channel = channel;
    this.ownsChannel = ownsChannel;
    this.blocking = DatabaseServiceGrpc.newBlockingStub(channel);
    this.async = DatabaseServiceGrpc.newStub(channel);
    this.options = options;
    this.causalityToken = causalityToken;
    this.routing = routing;
  }

  /**
   * This client's session (its channel and causality token: its reads still see
   * its writes) with reads going where {@code routing} says by default:
   * READ_ROUTING_PRIMARY, READ_ROUTING_REPLICA, or READ_ROUTING_UNSPECIFIED for
   * txgate's --read_routing (README, "Reads on replicas"). Closing the view
   * leaves the channel open.
   */
  public TxgateClient withRouting(ReadRouting routing) {
    return new TxgateClient(channel, false, options, causalityToken, routing);
  }

  /** Where this client's reads may run by default. */
  public ReadRouting routing() {
    return routing;
  }

  /**
   * The causality token of the latest write this client (or a view of it) saw;
   * "" before any. Every read, stream and read-only transaction sends it, so it
   * sees that write also on a replica (read-your-writes).
   */
  public String causalityToken() {
    return causalityToken.get();
  }

  /** Forgets the token: the next reads carry none. */
  public void clearCausalityToken() {
    causalityToken.set("");
  }

  /** Keeps a write response's token ("" is ignored). */
  void observe(String token) {
    if (!token.isEmpty()) {
      causalityToken.set(token);
    }
  }

  /** What a read sends: this client's routing and the latest write's token. */
  ReadOptions readOptions() {
    return ReadOptions.newBuilder().setRouting(routing).setCausalityToken(causalityToken.get())
        .build();
  }

  /**
   * A channel builder for {@code target} with txgate's service config
   * (proto/txgate/v1/service_config.json: round_robin over every address the name
   * resolves to, and the retry policy of Health/Check) and retries enabled.
   * Targets: {@code "host:port"} (one txgate, or every address of the name), or
   * {@code "dns:///name:port"} (e.g. a headless Service: round_robin over every
   * instance). grpc-java has no {@code ipv4:}/{@code ipv6:} address-list syntax
   * (grpc-js's and gRPC C core's): such a target is refused here with an
   * IllegalArgumentException that says so; give a DNS name with every address.
   */
  public static ManagedChannelBuilder<?> channelBuilder(String target, ChannelCredentials credentials) {
    if (target.startsWith("ipv4:") || target.startsWith("ipv6:")) {
      throw new IllegalArgumentException("txgate: grpc-java has no ipv4:/ipv6: address lists ("
          + target + "): give \"host:port\", or \"dns:///name:port\" for round_robin over every"
          + " address the name resolves to");
    }
    return Grpc.newChannelBuilder(target, credentials).defaultServiceConfig(serviceConfig())
        .enableRetry();
  }

  /**
   * proto/txgate/v1/service_config.json as the map {@link
   * ManagedChannelBuilder#defaultServiceConfig} takes (numbers as Double, as gRPC
   * requires): one merged service config.
   */
  public static Map<String, ?> serviceConfig() {
    try (InputStream in = TxgateClient.class.getResourceAsStream(SERVICE_CONFIG_RESOURCE)) {
      if (in == null) {
        throw new IllegalStateException("missing resource " + SERVICE_CONFIG_RESOURCE);
      }
      Struct.Builder b = Struct.newBuilder();
      JsonFormat.parser().merge(new String(in.readAllBytes(), StandardCharsets.UTF_8), b);
      @SuppressWarnings("unchecked")
      Map<String, ?> m = (Map<String, ?>) plain(com.google.protobuf.Value.newBuilder()
          .setStructValue(b).build());
      return m;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Object plain(com.google.protobuf.Value v) {
    switch (v.getKindCase()) {
      case STRUCT_VALUE: {
        Map<String, Object> m = new java.util.LinkedHashMap<>();
        v.getStructValue().getFieldsMap().forEach((k, x) -> m.put(k, plain(x)));
        return m;
      }
      case LIST_VALUE: {
        List<Object> l = new ArrayList<>();
        v.getListValue().getValuesList().forEach(x -> l.add(plain(x)));
        return l;
      }
      case NUMBER_VALUE:
        return v.getNumberValue();
      case STRING_VALUE:
        return v.getStringValue();
      case BOOL_VALUE:
        return v.getBoolValue();
      default:
        return null;
    }
  }

  /** The generated blocking stub, for calls the helper does not wrap. */
  public DatabaseServiceGrpc.DatabaseServiceBlockingStub stub() {
    return blocking;
  }

  /** The channel. */
  public ManagedChannel channel() {
    return channel;
  }

  /** Shuts the channel down (if this client built it) and waits up to 5 s. */
  @Override
  public void close() {
    if (ownsChannel) {
      channel.shutdownNow();
      try {
        channel.awaitTermination(5, TimeUnit.SECONDS);
      } catch (InterruptedException e) {
        Thread.currentThread().interrupt();
      }
    }
  }

  /** A fresh idempotency key: a random UUID (version 4). */
  public static String newIdempotencyKey() {
    return UUID.randomUUID().toString();
  }

  /** An {@link #execute} outcome: the result, the calls made and the key they carried. */
  public record ExecResult(Result result, int calls, String idempotencyKey) {}

  /**
   * Runs one statement in autocommit mode, exactly once: with a fresh idempotency
   * key, retried as {@link #retryable} allows. Returns its result.
   *
   * @throws TxgateException the final error, carrying the key
   * @throws IllegalArgumentException a parameter with no txgate.v1.Value
   */
  public Result execute(String sql, Object... params) {
    return executeWith(newIdempotencyKey(), sql, params).result();
  }

  /** {@link #execute} for a query: its rows. */
  public List<Row> query(String sql, Object... params) {
    return execute(sql, params).rows();
  }

  /**
   * {@link #execute} with the caller's key (one per logical operation, re-usable
   * later to learn the outcome), or {@code ""} for none: then only txgate's own
   * UNAVAILABLE is retried.
   */
  public ExecResult executeWith(String idempotencyKey, String sql, Object... params) {
    ExecuteRequest req = ExecuteRequest.newBuilder().setSql(sql).addAllParams(Values.of(params))
        .setIdempotencyKey(idempotencyKey).setRead(readOptions()).build();
    ExecuteResponse[] resp = new ExecuteResponse[1];
    int calls = withRetries(idempotencyKey, !idempotencyKey.isEmpty(),
        d -> resp[0] = blocking.withDeadline(d).execute(req));
    observe(resp[0].getCausalityToken());
    return new ExecResult(Result.of(resp[0].getResult()), calls, idempotencyKey);
  }

  /**
   * Transaction options: isolation (UNSPECIFIED: the server's), read-only, and the
   * deadline of an interactive transaction's stream ({@link #begin}: from begin to
   * the end of its commit; null or non-positive: 60 s). {@link #runTransaction}
   * ignores the timeout: {@link Options#timeout} bounds it.
   */
  public record TxOptions(IsolationLevel isolation, boolean readOnly, Duration timeout) {
    /** The default stream deadline of an interactive transaction: 60 s. */
    public static final Duration DEFAULT_TIMEOUT = Duration.ofSeconds(60);

    /** The server's isolation level, read-write. */
    public static final TxOptions DEFAULT =
        new TxOptions(IsolationLevel.ISOLATION_LEVEL_UNSPECIFIED, false);
    /** The server's isolation level, read-only. */
    public static final TxOptions READ_ONLY =
        new TxOptions(IsolationLevel.ISOLATION_LEVEL_UNSPECIFIED, true);

    /** Replaces a null or non-positive timeout with {@link #DEFAULT_TIMEOUT}. */
    public TxOptions {
      timeout = timeout == null || timeout.isZero() || timeout.isNegative() ? DEFAULT_TIMEOUT
          : timeout;
    }

    /** {@code isolation} and {@code readOnly} with the default timeout (60 s). */
    public TxOptions(IsolationLevel isolation, boolean readOnly) {
      this(isolation, readOnly, null);
    }

    /** These options with the stream deadline {@code timeout}. */
    public TxOptions withTimeout(Duration timeout) {
      return new TxOptions(isolation, readOnly, timeout);
    }

    /** A read-only transaction carries {@code read} (ignored otherwise). */
    TransactionOptions proto(ReadOptions read) {
      TransactionOptions.Builder b =
          TransactionOptions.newBuilder().setIsolationLevel(isolation).setReadOnly(readOnly);
      if (readOnly) {
        b.setRead(read);
      }
      return b.build();
    }
  }

  /** A {@link #runTransaction} outcome. */
  public record TransactionResult(List<Result> results, int attempts, int calls,
      String idempotencyKey) {}

  /**
   * Runs {@code statements} as one transaction, all or nothing, exactly once: a
   * read-write one with a fresh key (retried as {@link #retryable} allows); a
   * read-only one without key (always safe to re-run).
   */
  public TransactionResult runTransaction(List<Statement> statements, TxOptions tx) {
    return runTransaction(statements, tx, tx.readOnly() ? "" : newIdempotencyKey());
  }

  /** {@link #runTransaction} with the caller's key ("" for none). */
  public TransactionResult runTransaction(List<Statement> statements, TxOptions tx,
      String idempotencyKey) {
    RunTransactionRequest.Builder b = RunTransactionRequest.newBuilder()
        .setOptions(tx.proto(readOptions()))
        .setIdempotencyKey(idempotencyKey);
    for (int i = 0; i < statements.size(); i++) {
      try {
        b.addStatements(statements.get(i).proto());
      } catch (IllegalArgumentException e) {
        throw new IllegalArgumentException("statement " + (i + 1) + ": " + e.getMessage(), e);
      }
    }
    RunTransactionRequest req = b.build();
    RunTransactionResponse[] resp = new RunTransactionResponse[1];
    int calls = withRetries(idempotencyKey, !idempotencyKey.isEmpty() || tx.readOnly(),
        d -> resp[0] = blocking.withDeadline(d).runTransaction(req));
    observe(resp[0].getCausalityToken());
    List<Result> results = new ArrayList<>();
    for (ResultSet rs : resp[0].getResultsList()) {
      results.add(Result.of(rs));
    }
    return new TransactionResult(List.copyOf(results), resp[0].getAttempts(), calls,
        idempotencyKey);
  }

  /** A {@link #streamQuery} summary: the columns, rows seen and warning count. */
  public record StreamSummary(List<dev.txgate.v1.Column> columns, long rows, int warningCount) {}

  /**
   * Runs one query and hands each row to {@code onRow} as it arrives, values split
   * across chunks reassembled (accept_chunked_values). Not retried: it may run a
   * write and carries no key. {@code timeout} of the options bounds the whole call.
   */
  public StreamSummary streamQuery(String sql, List<Object> params, Consumer<Row> onRow) {
    StreamQueryRequest req = StreamQueryRequest.newBuilder().setSql(sql)
        .addAllParams(Values.of(params.toArray())).setAcceptChunkedValues(true)
        .setRead(readOptions()).build();
    Context.CancellableContext ctx = Context.current().withCancellation();
    Context prev = ctx.attach();
    try {
      Iterator<StreamQueryResponse> it =
          blocking.withDeadline(Deadline.after(options.timeout().toNanos(), TimeUnit.NANOSECONDS))
              .streamQuery(req);
      List<String> names = List.of();
      List<dev.txgate.v1.Column> columns = List.of();
      List<dev.txgate.v1.Value> pending = null; // a row continued in the next chunk
      long rows = 0;
      while (it.hasNext()) {
        StreamQueryResponse chunk = it.next();
        if (chunk.getColumnsCount() > 0) {
          columns = List.copyOf(chunk.getColumnsList());
          names = Result.names(columns);
        }
        List<dev.txgate.v1.Row> rs = chunk.getRowsList();
        for (int i = 0; i < rs.size(); i++) {
          List<dev.txgate.v1.Value> values = rs.get(i).getValuesList();
          if (pending != null) {
            values = join(pending, values);
            pending = null;
          }
          if (chunk.getChunkedValue() && i == rs.size() - 1) {
            pending = values;
            continue;
          }
          onRow.accept(Result.row(names, values));
          rows++;
        }
        if (chunk.getDone()) {
          return new StreamSummary(columns, rows, chunk.getWarningCount());
        }
      }
      throw new TxgateException(Status.INTERNAL.withDescription("StreamQuery ended without done"),
          null, "", false, null);
    } catch (StatusRuntimeException e) {
      // Only the call's own errors: what onRow throws reaches the caller as it is.
      throw TxgateException.from(e, "", isLocalCancel(Context.current()));
    } finally {
      ctx.detach(prev);
      ctx.cancel(null);
    }
  }

  private static List<dev.txgate.v1.Value> join(List<dev.txgate.v1.Value> head,
      List<dev.txgate.v1.Value> tail) {
    List<dev.txgate.v1.Value> out = new ArrayList<>(head.subList(0, head.size() - 1));
    dev.txgate.v1.Value last = head.get(head.size() - 1);
    dev.txgate.v1.Value rest = tail.get(0);
    dev.txgate.v1.Value.Builder b = last.toBuilder();
    switch (last.getKindCase()) {
      case STRING_VALUE:
        b.setStringValue(last.getStringValue() + rest.getStringValue());
        break;
      case JSON_VALUE:
        b.setJsonValue(last.getJsonValue() + rest.getJsonValue());
        break;
      case BYTES_VALUE:
        b.setBytesValue(last.getBytesValue().concat(rest.getBytesValue()));
        break;
      default:
        throw new TxgateException(Status.INTERNAL.withDescription(
            "a chunked value of kind " + last.getKindCase()), null, "", false, null);
    }
    out.add(b.build());
    out.addAll(tail.subList(1, tail.size()));
    return out;
  }

  /**
   * Begins an interactive transaction (a {@code Transaction} stream) whose stream
   * ends by {@code tx.timeout()} (60 s by default) at the latest: past it, the step
   * in progress fails DEADLINE_EXCEEDED. Use it in try-with-resources: closed
   * without {@link Transaction#commit}, it rolls back.
   *
   * @throws TxgateException when txgate does not begin it (the transaction is then failed)
   */
  public Transaction begin(TxOptions tx) {
    return begin(tx, Deadline.after(tx.timeout().toNanos(), TimeUnit.NANOSECONDS));
  }

  private Transaction begin(TxOptions tx, Deadline deadline) {
    return new Transaction(async, tx, readOptions(), this::observe, channel, deadline);
  }

  /** The work of {@link #runInTransaction}. */
  @FunctionalInterface
  public interface TransactionWork<T> {
    /** Runs the transaction's statements on {@code tx}; must not commit it itself. */
    T run(Transaction tx);
  }

  /** The default bounds of {@link #runInTransaction}: 10 attempts within 60 s. */
  public static final int RUN_IN_TRANSACTION_MAX_ATTEMPTS = 10;

  /** The default overall time of {@link #runInTransaction}: 60 s. */
  public static final Duration RUN_IN_TRANSACTION_TIMEOUT = Duration.ofSeconds(60);

  private static final java.util.Set<String> NOT_RERUN_ABORTED =
      java.util.Set.of("TRANSACTION_IDLE_TIMEOUT", "STREAM_WRITE_TIMEOUT",
          "TRANSACTION_NOT_COMMITTED");

  /**
   * Whether a {@link #runInTransaction} attempt that failed with {@code e} may be
   * run again whole: nothing of it can have been committed and a re-run may pass
   * (the rule of the Node, Python and Go helpers, client/README.md):
   *
   * <ul>
   *   <li>ABORTED (a deadlock 1213, a lock wait timeout 1205, TRANSACTION_LOST,
   *       REPLAY_MISMATCH: txgate rolled the transaction back), except the reasons
   *       the client itself caused: TRANSACTION_IDLE_TIMEOUT (it paused too long),
   *       STREAM_WRITE_TIMEOUT (it stopped reading), TRANSACTION_NOT_COMMITTED (it
   *       closed the stream without a commit);
   *   <li>txgate's own UNAVAILABLE (its ErrorInfo: nothing was applied);
   *   <li>when {@code beforeCommit} (the error ended the attempt's own stream
   *       before its commit was sent): a transport UNAVAILABLE (a cut connection,
   *       a txgate that went away) or a CANCELLED that neither txgate nor this
   *       process caused: a stream that ends uncommitted is rolled back.
   * </ul>
   *
   * Never an error during or after the commit otherwise (UNKNOWN, a lost answer:
   * the commit may have applied), nor any other error.
   */
  public static boolean rerunnable(TxgateException e, boolean beforeCommit) {
    boolean ours = TxgateException.DOMAIN.equals(e.domain());
    if (e.code() == Status.Code.ABORTED) {
      return !NOT_RERUN_ABORTED.contains(e.reason());
    }
    if (e.code() == Status.Code.UNAVAILABLE && ours) {
      return true;
    }
    if (!beforeCommit || ours) {
      return false;
    }
    return e.code() == Status.Code.UNAVAILABLE
        || (e.code() == Status.Code.CANCELLED && !e.cancelledLocally());
  }

  /**
   * Runs {@code work} in an interactive transaction and commits it (unless work
   * committed it); when the attempt failed in a way that committed nothing and may
   * pass next time ({@link #rerunnable}), rolls back and re-runs the whole function
   * in a new transaction (as Spanner's clients do), at most {@code maxAttempts}
   * times and all within {@code timeout} (each attempt's stream ends by then at the
   * latest, and by {@code tx.timeout()}), with the client's backoff in between
   * (50 ms doubling to 2 s, jittered).
   *
   * <p>The decision is made on the transaction's own first failure ({@link
   * Transaction#error}), whatever work did with it: if work caught a statement's
   * error (a deadlock) and returned, or threw something else, the attempt still
   * counts as failed by that error: re-run when it is rerunnable, else thrown (the
   * transaction's error when work returned; what work threw otherwise). Nothing was
   * committed in either case. An exception of work's own (the transaction not
   * failed) is thrown at once, the transaction rolled back. {@code work} must
   * therefore have no effects outside the transaction that cannot be repeated.
   *
   * @throws TxgateException the last attempt's error, when it is not rerunnable or
   *     the bounds are spent
   */
  public <T> T runInTransaction(TxOptions tx, int maxAttempts, Duration timeout,
      TransactionWork<T> work) {
    long end = System.nanoTime() + timeout.toNanos();
    long backoff = options.initialBackoff().toNanos();
    TxgateException own;
    boolean ownBeforeCommit;
    for (int attempt = 1; ; attempt++) {
      long left = end - System.nanoTime();
      Deadline d = Deadline.after(Math.min(Math.max(left, 0), tx.timeout().toNanos()),
          TimeUnit.NANOSECONDS);
      Transaction t;
      try {
        t = begin(tx, d);
      } catch (TxgateException e) {
        // begin's own stream failed, before any commit.
        if (!rerunAfter(e, true, attempt, maxAttempts, end, backoff)) {
          throw e;
        }
        backoff = pause(backoff);
        continue;
      }
      RuntimeException thrown;
      try {
        T out = work.run(t);
        if (t.state().equals("open")) {
          t.commit();
        }
        if (t.error() == null) {
          return out;
        }
        // work swallowed the failure (and a commit on it throws it again).
        thrown = t.error();
      } catch (RuntimeException e) {
        thrown = e;
      } finally {
        // The transaction's own failure, before close (whose rollback may fail too).
        own = t.error();
        ownBeforeCommit = t.failedBeforeCommit();
        t.close();
      }
      TxgateException decider;
      boolean beforeCommit;
      if (own != null) {
        decider = own;
        beforeCommit = ownBeforeCommit;
      } else if (thrown instanceof TxgateException e && !t.state().equals("committed")) {
        // Not the stream's (another call of work's): decided on as it is.
        decider = e;
        beforeCommit = false;
      } else {
        throw thrown;
      }
      if (t.state().equals("committed")
          || !rerunAfter(decider, beforeCommit, attempt, maxAttempts, end, backoff)) {
        throw thrown;
      }
      backoff = pause(backoff);
    }
  }

  private boolean rerunAfter(TxgateException e, boolean beforeCommit, int attempt,
      int maxAttempts, long end, long backoff) {
    return rerunnable(e, beforeCommit) && attempt < maxAttempts
        && System.nanoTime() + backoff < end;
  }

  /** Sleeps a jittered {@code backoff} (half to all of it); returns the next backoff. */
  private long pause(long backoff) {
    sleep(backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1));
    return Math.min(2 * backoff, options.maxBackoff().toNanos());
  }

  /** {@link #runInTransaction} with at most {@code maxAttempts} attempts within 60 s. */
  public <T> T runInTransaction(TxOptions tx, int maxAttempts, TransactionWork<T> work) {
    return runInTransaction(tx, maxAttempts, RUN_IN_TRANSACTION_TIMEOUT, work);
  }

  /** {@link #runInTransaction} with at most 10 attempts within 60 s. */
  public <T> T runInTransaction(TxOptions tx, TransactionWork<T> work) {
    return runInTransaction(tx, RUN_IN_TRANSACTION_MAX_ATTEMPTS, RUN_IN_TRANSACTION_TIMEOUT,
        work);
  }

  /**
   * The retry rule of client/README.md: txgate's own UNAVAILABLE is always retried;
   * when {@code safe} (the request carries a key, or is a read-only transaction)
   * also a transport UNAVAILABLE, UNKNOWN with reason COMMIT_OUTCOME_UNKNOWN, and a
   * CANCELLED without txgate's ErrorInfo that the application did not cause.
   */
  public static boolean retryable(TxgateException e, boolean safe) {
    boolean ours = TxgateException.DOMAIN.equals(e.domain());
    if (e.code() == Status.Code.UNAVAILABLE && ours) {
      return true;
    }
    if (!safe) {
      return false;
    }
    return e.code() == Status.Code.UNAVAILABLE
        || (e.code() == Status.Code.UNKNOWN
            && TxgateException.REASON_COMMIT_OUTCOME_UNKNOWN.equals(e.reason()))
        || (e.code() == Status.Code.CANCELLED && !ours && !e.cancelledLocally());
  }

  private boolean isLocalCancel(Context ctx) {
    return ctx.isCancelled() || channel.isShutdown();
  }

  private interface Call {
    void run(Deadline deadline);
  }

  private int withRetries(String key, boolean safe, Call call) {
    Deadline deadline = Deadline.after(options.timeout().toNanos(), TimeUnit.NANOSECONDS);
    long backoff = options.initialBackoff().toNanos();
    for (int calls = 1; ; calls++) {
      try {
        call.run(deadline);
        return calls;
      } catch (StatusRuntimeException t) {
        TxgateException e = TxgateException.from(t, key, isLocalCancel(Context.current()));
        if (!retryable(e, safe)) {
          throw e;
        }
        long pause = backoff / 2 + ThreadLocalRandom.current().nextLong(backoff / 2 + 1);
        if (deadline.timeRemaining(TimeUnit.NANOSECONDS) <= pause) {
          throw e;
        }
        sleep(pause);
        backoff = Math.min(2 * backoff, options.maxBackoff().toNanos());
      }
    }
  }

  private static void sleep(long nanos) {
    try {
      TimeUnit.NANOSECONDS.sleep(nanos);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new TxgateException(Status.CANCELLED.withDescription("interrupted"), null, "", true, e);
    }
  }
}
