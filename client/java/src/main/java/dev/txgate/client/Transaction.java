package dev.txgate.client;

import dev.txgate.v1.Begin;
import dev.txgate.v1.Commit;
import dev.txgate.v1.DatabaseServiceGrpc;
import dev.txgate.v1.ReadOptions;
import dev.txgate.v1.Rollback;
import dev.txgate.v1.TransactionRequest;
import dev.txgate.v1.TransactionResponse;
import io.grpc.Deadline;
import io.grpc.ManagedChannel;
import io.grpc.Status;
import io.grpc.stub.ClientCallStreamObserver;
import io.grpc.stub.ClientResponseObserver;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.Consumer;

/**
 * An interactive transaction: one {@code Transaction} stream, one statement at a
 * time. Not thread-safe: a step begun while another of the same transaction is in
 * progress (from another thread) throws IllegalStateException, the transaction
 * unharmed. {@link #close} rolls back unless {@link #commit} or
 * {@link #rollback} ended it (use try-with-resources). A failed step ends the
 * transaction (txgate has rolled it back); its state becomes {@code "failed"},
 * {@link #error} keeps that first failure, and every later {@link #execute},
 * {@link #run} or {@link #commit} throws it again (same code, reason, MySQL errno
 * and message, the first as its cause), so an error that the application caught
 * and ignored still surfaces (as Spanner's clients do). The stream has a deadline
 * ({@link TxgateClient.TxOptions#timeout}, 60 s by default) from {@code begin}:
 * past it, the step in progress fails DEADLINE_EXCEEDED, so a txgate that stopped
 * answering cannot block the caller for ever. Not retried by the helper: {@link
 * TxgateClient#runInTransaction} re-runs a whole function.
 */
public final class Transaction implements AutoCloseable {
  private static final Object END = new Object();

  private final LinkedBlockingQueue<Object> answers = new LinkedBlockingQueue<>();
  private final ClientCallStreamObserver<TransactionRequest> requests;
  private final boolean readOnly;
  private final ManagedChannel channel;
  private String state = "beginning";
  private TxgateException error;
  private boolean commitSent;
  private boolean failedBeforeCommit;
  private final AtomicBoolean busy = new AtomicBoolean();
  private final Consumer<String> onToken;
  private String causalityToken = "";

  Transaction(DatabaseServiceGrpc.DatabaseServiceStub stub, TxgateClient.TxOptions options,
      ReadOptions read, Consumer<String> onToken,
      ManagedChannel channel, Deadline deadline) {
    this.readOnly = options.readOnly();
    this.onToken = onToken;
    this.channel = channel;
    ClientCallStreamObserver<?>[] out = new ClientCallStreamObserver<?>[1];
    stub.withDeadline(deadline).transaction(new ClientResponseObserver<TransactionRequest, TransactionResponse>() {
      @Override
      public void beforeStart(ClientCallStreamObserver<TransactionRequest> r) {
        out[0] = r;
      }

      @Override
      public void onNext(TransactionResponse value) {
        answers.add(value);
      }

      @Override
      public void onError(Throwable t) {
        answers.add(t);
      }

      @Override
      public void onCompleted() {
        answers.add(END);
      }
    });
    @SuppressWarnings("unchecked")
    ClientCallStreamObserver<TransactionRequest> r =
        (ClientCallStreamObserver<TransactionRequest>) out[0];
    this.requests = r;
    exchange(TransactionRequest.newBuilder()
        .setBegin(Begin.newBuilder().setOptions(options.proto(read))).build());
    state = "open";
  }

  /** "beginning", "open", "committed", "rolled back" or "failed". */
  public String state() {
    return state;
  }

  /** The error that failed the transaction (its first), or null if none did. */
  public TxgateException error() {
    return error;
  }

  /** True once {@link #commit} sent the commit: an error from then on may hide a commit. */
  public boolean commitSent() {
    return commitSent;
  }

  /** True when this stream's own failure ({@link #error}) came before the commit was sent. */
  boolean failedBeforeCommit() {
    return error != null && failedBeforeCommit;
  }

  /** Runs one statement in the transaction and returns its result. */
  public Result execute(String sql, Object... params) {
    return run(Statement.of(sql, params));
  }

  /** Runs {@code statement} (with its expectation, if any). */
  public Result run(Statement statement) {
    TransactionResponse r =
        exchange(TransactionRequest.newBuilder().setStatement(statement.proto()).build());
    return Result.of(r.getResult());
  }

  /**
   * Commits with a fresh idempotency key (none when read-only), with which txgate
   * resolves a commit whose connection was lost; returns the key.
   */
  public String commit() {
    String key = readOnly ? "" : TxgateClient.newIdempotencyKey();
    commit(key);
    return key;
  }

  /** Commits with the caller's key. */
  public void commit(String idempotencyKey) {
    if (state.equals("open")) {
      commitSent = true;
    }
    TransactionResponse resp;
    try {
      resp = exchange(TransactionRequest.newBuilder()
          .setCommit(Commit.newBuilder().setIdempotencyKey(idempotencyKey)).build());
    } catch (TxgateException e) {
      throw TxgateException.from(e, idempotencyKey, e.cancelledLocally());
    }
    causalityToken = resp.getCommitted().getCausalityToken();
    onToken.accept(causalityToken);
    finish("committed");
  }

  /**
   * The commit's causality token ("" before the commit, or when the transaction
   * wrote nothing); the client keeps it for its later reads too.
   */
  public String causalityToken() {
    return causalityToken;
  }

  /** Rolls back; nothing if the transaction already ended. */
  public void rollback() {
    if (!state.equals("open")) {
      return;
    }
    exchange(TransactionRequest.newBuilder().setRollback(Rollback.getDefaultInstance()).build());
    finish("rolled back");
  }

  /** Rolls back unless committed or ended; never throws for an ended stream. */
  @Override
  public void close() {
    if (state.equals("open")) {
      try {
        rollback();
      } catch (TxgateException e) {
        // The stream is gone: txgate rolls back a transaction whose stream ends.
        fail(e);
      } catch (IllegalStateException e) {
        // Another thread's step is in progress: end the stream under it (txgate
        // rolls back a transaction whose stream ends uncommitted).
        requests.cancel("transaction closed while a step was in progress", null);
        return;
      }
    }
    if (!state.equals("committed") && !state.equals("rolled back")) {
      requests.cancel("transaction closed", null);
    }
  }

  private TransactionResponse exchange(TransactionRequest req) {
    if (!busy.compareAndSet(false, true)) {
      throw new IllegalStateException("txgate: a Transaction is used by one thread at a time:"
          + " another step of it is in progress");
    }
    try {
      return exchangeOne(req);
    } finally {
      busy.set(false);
    }
  }

  private TransactionResponse exchangeOne(TransactionRequest req) {
    if (error != null) {
      throw error.again();
    }
    if (!state.equals("beginning") && !state.equals("open")) {
      throw new TxgateException(
          Status.FAILED_PRECONDITION.withDescription("the transaction is " + state), null, "",
          false, null);
    }
    requests.onNext(req);
    Object a = take();
    if (a instanceof TransactionResponse r && matches(req, r)) {
      return r;
    }
    if (a instanceof Throwable t) {
      throw fail(TxgateException.from(t, "", channel.isShutdown()));
    }
    String what = a == END ? "the Transaction stream ended early" : "unexpected response " + a;
    throw fail(new TxgateException(Status.INTERNAL.withDescription(what), null, "", false, null));
  }

  /** Ends the transaction as failed by {@code e}, kept if it is the first failure. */
  private TxgateException fail(TxgateException e) {
    if (error == null) {
      error = e;
      failedBeforeCommit = !commitSent;
    }
    state = "failed";
    requests.cancel("transaction failed", null);
    return e;
  }

  private void finish(String end) {
    state = end;
    requests.onCompleted();
    Object a = take();
    if (a instanceof Throwable t) {
      // The commit or rollback was answered; the stream's end was not clean.
      TxgateException e = TxgateException.from(t, "", channel.isShutdown());
      if (error == null) {
        error = e;
        failedBeforeCommit = !commitSent;
      }
      throw e;
    }
  }

  private Object take() {
    try {
      return answers.take();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw fail(
          new TxgateException(Status.CANCELLED.withDescription("interrupted"), null, "", true, e));
    }
  }

  private static boolean matches(TransactionRequest req, TransactionResponse resp) {
    switch (req.getActionCase()) {
      case BEGIN:
        return resp.hasBegun();
      case STATEMENT:
        return resp.hasResult();
      case COMMIT:
        return resp.hasCommitted();
      case ROLLBACK:
        return resp.hasRolledBack();
      default:
        return false;
    }
  }
}
