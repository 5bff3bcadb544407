#include "server/service/database_service.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "server/service/status_mapping.h"
#include "server/sql/error.h"
#include "server/sql/statement_kind.h"

namespace txgate::service {
namespace {

using runner::CallContext;
using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

// A statement that may run on a replica: a plain read, taking no lock and
// touching no session state (a named lock, a user variable: the replica's
// session is not the primary's), calling no procedure. Its answer must not
// depend on which server runs it beyond staleness, which the caller chose.
bool ReplicaReadable(const std::string& sql) {
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  return kind.read_only && !kind.locking_read && !kind.calls_procedure && !kind.opaque &&
         !kind.session.leaves_state && !kind.session.reads_leftovers;
}

std::shared_ptr<CallContext> MakeCallContext(grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  const absl::Time d =
      deadline >= std::chrono::system_clock::time_point::max() - std::chrono::hours(24 * 365)
          ? absl::InfiniteFuture()
          : absl::FromChrono(deadline);
  return std::make_shared<CallContext>(d);
}

absl::Status ShuttingDown(absl::string_view what) {
  return sql::MakeStatus(absl::StatusCode::kUnavailable, txgate::v1::SERVER_SHUTTING_DOWN,
                         absl::StrCat("the server is shutting down", what.empty() ? "" : ": ", what,
                                      "; retry on another server"));
}

// A call's final status: a call cut by the drain (CutForShutdown) that
// ended interrupted says UNAVAILABLE, so that clients retry elsewhere,
// never CANCELLED. Other answers (OK, an unknown commit outcome, ...) stand.
absl::Status Settled(const CallContext& call, const absl::Status& status) {
  if (status.ok() || !call.cancelled_for_shutdown()) return status;
  if (status.code() != absl::StatusCode::kCancelled &&
      status.code() != absl::StatusCode::kDeadlineExceeded) {
    return status;
  }
  return ShuttingDown("the call was stopped (its statement killed, its transaction rolled back)");
}

// Bytes of requests in flight, reserved against a limit and given back by
// Release() (or the destructor) once the call has its answer.
class BytesReservation {
 public:
  BytesReservation() = default;
  BytesReservation(std::atomic<int64_t>* counter, int64_t bytes)
      : counter_(counter), bytes_(bytes) {}
  BytesReservation(BytesReservation&& other) noexcept
      : counter_(std::exchange(other.counter_, nullptr)), bytes_(other.bytes_) {}
  BytesReservation& operator=(BytesReservation&& other) noexcept {
    if (this != &other) {
      Release();
      counter_ = std::exchange(other.counter_, nullptr);
      bytes_ = other.bytes_;
    }
    return *this;
  }
  ~BytesReservation() { Release(); }

  // Reserves `bytes` on `counter` unless it would go beyond `limit`.
  static std::optional<BytesReservation> Try(std::atomic<int64_t>* counter, int64_t limit,
                                             int64_t bytes) {
    int64_t now = counter->load();
    do {
      if (now + bytes > limit) return std::nullopt;
    } while (!counter->compare_exchange_weak(now, now + bytes));
    return BytesReservation(counter, bytes);
  }

  void Release() {
    if (counter_ != nullptr) counter_->fetch_sub(bytes_);
    counter_ = nullptr;
  }

 private:
  std::atomic<int64_t>* counter_ = nullptr;
  int64_t bytes_ = 0;
};

absl::Status ReadOnlyRefused() {
  return sql::MakeStatus(absl::StatusCode::kPermissionDenied, txgate::v1::READ_ONLY_TOKEN,
                         "this token is read-only: it may send only plain reads (SELECT, "
                         "SHOW, ... without INTO, locking clauses, user variables or functions "
                         "that hold session state such as GET_LOCK)");
}

// Decodes a message from its wire bytes and frees them (emptying `wire`),
// as gRPC's own decoding does, so that their memory — charged to gRPC's
// resource quota — goes back before the call runs; false when they are not
// a valid `Message` (not protobuf wire format, or a string field that is
// not UTF-8).
template <class Message>
bool Decode(grpc::ByteBuffer* wire, Message* message) {
  return grpc::SerializationTraits<Message>::Deserialize(wire, message).ok();
}

// A unary or server-streaming request's bytes: gRPC hands them over as
// const, but they are the call's alone, and Decode frees them.
grpc::ByteBuffer* Consumed(const grpc::ByteBuffer* wire) {
  return const_cast<grpc::ByteBuffer*>(wire);
}

// Encodes `message` into `wire` (replacing what it held).
absl::Status Encode(const google::protobuf::MessageLite& message, grpc::ByteBuffer* wire) {
  wire->Clear();  // gRPC's writer fills only an empty buffer
  bool own_buffer = false;
  grpc::Status status = grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
      message, wire, &own_buffer);
  if (status.ok()) return absl::OkStatus();
  return sql::MakeStatus(
      absl::StatusCode::kInternal, txgate::v1::INTERNAL_ERROR,
      absl::StrCat("the response could not be encoded: ", status.error_message()));
}

// The answer to a request (or a Transaction message) whose bytes are not a
// valid `type`.
absl::Status Undecodable(absl::string_view type) {
  return sql::MakeStatus(
      absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST,
      absl::StrCat("the request is not a valid ", type,
                   ": its bytes are not protobuf wire format of that message, or one of its "
                   "string fields holds bytes that are not UTF-8 (send such data as a bytes "
                   "parameter); nothing was run"));
}

int64_t WireBytes(const grpc::ByteBuffer& wire) { return static_cast<int64_t>(wire.Length()); }

// Whether a read-only token may send `sql`, in any RPC (empty SQL goes on,
// to be refused as INVALID_ARGUMENT): a read that takes no lock and leaves
// nothing on the session — no locking read holding back writers, no named
// lock (GET_LOCK) holding an application's lock. The account's grants and
// its read-only session refuse every write anyway; this refuses early what
// they would let through.
bool ReadOnlyAllowed(absl::string_view sql) {
  const sql::StatementKind kind = sql::ClassifyStatement(sql);
  return (kind.read_only && !kind.session.leaves_state) || kind.empty;
}

// A unary call whose work runs on the executor; it answers with the wire
// bytes of its `Response`.
template <class Response>
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(DatabaseService* service, std::shared_ptr<CallContext> call,
            runner::StatementKiller* killer, std::unique_ptr<CallRecord> record,
            BytesReservation bytes, grpc::ByteBuffer* wire_response)
      : service_(service),
        call_(std::move(call)),
        killer_(killer),
        record_(std::move(record)),
        bytes_(std::move(bytes)),
        wire_response_(wire_response) {}

  CallContext& call() { return *call_; }
  CallRecord& record() { return *record_; }
  // What End(OK) sends; filled by the work before it.
  Response& response() { return response_; }

  // Called once: by the work's task, or instead of it (refused, expired).
  void End(absl::Status status) {
    bytes_.Release();
    if (status.ok()) status = Encode(response_, wire_response_);
    Finish(record_->Finish(Settled(*call_, status)));
  }

  void OnCancel() override {
    if (call_->Cancel()) call_->killer_or(killer_)->Kill(call_);
  }
  void OnDone() override {
    service_->Untrack(call_.get());
    delete this;
  }

 private:
  DatabaseService* const service_;
  std::shared_ptr<CallContext> call_;
  runner::StatementKiller* killer_;
  std::unique_ptr<CallRecord> record_;
  BytesReservation bytes_;
  grpc::ByteBuffer* const wire_response_;
  Response response_;
};

}  // namespace

// What the watchdog needs of a stream it may reset once its status has
// waited too long for the client (see stream_write_timeout): its context,
// and pins that keep the reactor alive across TryCancel(), which may run
// the reactor's OnDone() on the calling thread. gRPC's own pin is dropped
// by OnDone(); whoever drops the last pin deletes the reactor.
class StreamReactor {
 public:
  explicit StreamReactor(grpc::CallbackServerContext* context) : context_(context) {}
  virtual ~StreamReactor() = default;

  // Taken with the service's lock held, while the stream is registered.
  void Pin() { pins_.fetch_add(1, std::memory_order_relaxed); }
  // Drops a pin; deletes the reactor on the last one.
  void Unpin() {
    if (pins_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
  // Without any lock held (see above).
  void Reset() { context_->TryCancel(); }

 private:
  grpc::CallbackServerContext* const context_;
  std::atomic<int> pins_{1};
};

namespace {

// The status of a stream whose client stopped taking its responses.
absl::Status WriteStalled(absl::Duration timeout, absl::string_view what) {
  return sql::MakeStatus(
      absl::StatusCode::kAborted, txgate::v1::STREAM_WRITE_TIMEOUT,
      absl::StrCat("the client took no response of this stream for --stream_write_timeout (",
                   absl::FormatDuration(timeout), "; it stopped reading): ", what,
                   ". Read streams without long pauses, then run it again"));
}

}  // namespace

// One StreamQuery. Its steps (Start, then each chunk: fetch on the
// executor, write, OnWriteDone) run one at a time, each handing over to
// the next, so stream_, chunk_ and last_ need no lock. Between a write and
// its OnWriteDone the watchdog may claim the call (finished_) when the
// client has not taken the chunk within stream_write_timeout; exactly one
// party ends a call (End, or the watchdog's claim).
class StreamQueryCall final : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
                              public StreamReactor {
 public:
  // The service then either Start()s it on the executor or End()s it.
  StreamQueryCall(DatabaseService* service, grpc::CallbackServerContext* context,
                  std::shared_ptr<CallContext> call, txgate::v1::StreamQueryRequest request,
                  runner::TransactionRunner* runner, runner::StatementKiller* killer,
                  Executor* executor, std::unique_ptr<CallRecord> record, BytesReservation bytes)
      : StreamReactor(context),
        service_(service),
        call_(std::move(call)),
        request_(std::move(request)),
        runner_(runner),
        killer_(killer),
        executor_(executor),
        record_(std::move(record)),
        bytes_(std::move(bytes)) {}

  CallContext& call() { return *call_; }

  // Runs the query's first step; on an executor thread.
  void Start() {
    using Stream = std::unique_ptr<runner::TransactionRunner::QueryStream>;
    absl::StatusOr<Stream> stream = service_->RunRead<Stream>(
        *call_, runner_, request_.read(), ReplicaReadable(request_.sql()),
        [&](runner::TransactionRunner* r) { return r->StartQuery(*call_, request_); });
    if (!stream.ok()) return End(stream.status());
    stream_ = std::move(*stream);
    bytes_.Release();  // the request is sent; what stays is the stream's
    Fetch();
  }

  // Ends the call unless it was ended already; returns the connection
  // (when on an executor thread).
  void End(const absl::Status& status) {
    {
      MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    Conclude(status);
  }

  // From the watchdog (with the service's lock held): ends the call if its
  // client has not taken the chunk written before `cutoff`. Its statement
  // is killed and its connection closed on the executor (Conclude).
  bool ExpireIfStalledSince(absl::Time cutoff, absl::Duration timeout) {
    int64_t taken, waiting;
    {
      MutexLock lock(&mu_);
      if (finished_ || !writing_ || write_since_ > cutoff) return false;
      finished_ = true;
      ended_writing_at_ = absl::Now();
      taken = rows_taken_;
      waiting = rows_waiting_;
    }
    absl::Status status = WriteStalled(
        timeout, absl::StrCat("the stream was ended after the client had taken ", taken,
                              " rows (a chunk ending ", waiting, " more was waiting for it)",
                              last_ ? "" : "; its query was stopped"));
    executor_->Submit([this, status = std::move(status)] { Conclude(status); });
    return true;
  }

  // From the watchdog: true (once) if the call was ended while its client
  // had not taken a chunk, before `cutoff`, and still has not.
  bool ResetDue(absl::Time cutoff) {
    MutexLock lock(&mu_);
    if (!finished_ || !writing_ || reset_ || ended_writing_at_ > cutoff) return false;
    reset_ = true;
    return true;
  }

  void OnWriteDone(bool ok) override {
    {
      MutexLock lock(&mu_);
      writing_ = false;
      if (finished_) return;  // claimed by the watchdog
      if (ok) rows_taken_ += rows_waiting_;
    }
    executor_->Submit([this, ok] {
      if (!ok && absl::Now() >= call_->deadline()) {
        return End(sql::MakeStatus(absl::StatusCode::kDeadlineExceeded,
                                   txgate::v1::DEADLINE_EXCEEDED,
                                   "the stream's deadline passed; its query was stopped"));
      }
      if (!ok) {
        return End(sql::MakeStatus(absl::StatusCode::kCancelled, txgate::v1::CANCELLED,
                                   "the client went away"));
      }
      if (last_) return End(absl::OkStatus());
      Fetch();
    });
  }
  // The statement is killed whenever it comes: the stream's connection
  // stays attached to call_ while the stream lives (QueryStream).
  void OnCancel() override {
    if (call_->Cancel()) call_->killer_or(killer_)->Kill(call_);
  }
  void OnDone() override {
    service_->Unregister(this);
    service_->Untrack(call_.get());
    Unpin();
  }

 private:
  // Returns the connection (a stream cut short: after its KILL, closed
  // unread) and sends `status`; once per call.
  void Conclude(const absl::Status& status) {
    if (stream_ != nullptr && stream_->unfinished()) {
      // Cut short (the client went away, cancelled, or its deadline passed,
      // whichever of gRPC's reactions came first; or it stopped reading):
      // the query is killed before its connection goes, which OnCancel's
      // Kill() may miss if this comes first. A second KILL is harmless.
      call_->Cancel();
      call_->killer_or(killer_)->KillNow(call_);
    }
    stream_.reset();
    bytes_.Release();
    Finish(record_->Finish(Settled(*call_, status)));
  }

  void Fetch() {
    chunk_.Clear();
    absl::Status status = stream_->NextChunk(*call_, &chunk_);
    if (!status.ok()) return End(status);
    if (chunk_.done()) {
      last_ = true;
      stream_.reset();  // the connection goes back before the last write
    }
    if (absl::Status encoded = Encode(chunk_, &wire_chunk_); !encoded.ok()) return End(encoded);
    {
      MutexLock lock(&mu_);
      writing_ = true;
      write_since_ = absl::Now();
      // Rows that end in this chunk: a row split across chunks counts once.
      rows_waiting_ = chunk_.rows_size() - (chunk_.chunked_value() ? 1 : 0);
    }
    StartWrite(&wire_chunk_);
  }

  DatabaseService* const service_;
  std::shared_ptr<CallContext> call_;
  const txgate::v1::StreamQueryRequest request_;
  runner::TransactionRunner* runner_;
  runner::StatementKiller* killer_;
  Executor* executor_;
  std::unique_ptr<CallRecord> record_;
  BytesReservation bytes_;
  std::unique_ptr<runner::TransactionRunner::QueryStream> stream_;
  txgate::v1::StreamQueryResponse chunk_;
  grpc::ByteBuffer wire_chunk_;  // chunk_'s bytes, being written
  bool last_ = false;

  // Acquired after DatabaseService::mu_ (WatchIdle()).
  Mutex mu_ ABSL_ACQUIRED_AFTER(service_->mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // its status is decided
  bool writing_ ABSL_GUARDED_BY(mu_) = false;   // a chunk waits for its client
  absl::Time write_since_ ABSL_GUARDED_BY(mu_);
  absl::Time ended_writing_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
  int64_t rows_taken_ ABSL_GUARDED_BY(mu_) = 0;    // whole, in chunks the client took
  int64_t rows_waiting_ ABSL_GUARDED_BY(mu_) = 0;  // ending in the chunk being written
};

// One interactive transaction. Its messages are handled one at a time on
// the executor; between two of them it waits for the client (kReading),
// and only then may the idle watchdog or Drain() end it: they claim the
// call under mu_ (finished_), so exactly one party finishes it, and their
// rollback cannot overlap a handler, as none is running. It takes a slot
// (max_open_transactions) when its first message arrives, and gives it back
// before its status goes out (FinishWith), so that a client that opens its
// next stream once it has the previous one's status finds the slot free.
class TransactionCall final : public grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>,
                              public StreamReactor {
 public:
  TransactionCall(grpc::CallbackServerContext* context, std::shared_ptr<CallContext> call,
                  DatabaseService* service, Backend backend, std::unique_ptr<CallRecord> record,
                  bool read_only)
      : StreamReactor(context),
        call_(std::move(call)),
        service_(service),
        backend_(backend),
        executor_(service->executor_),
        record_(std::move(record)),
        read_only_(read_only) {}

  // Ends the call at once (it was not admitted).
  void Refuse(const absl::Status& status) {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    FinishWith(record_->Finish(status));
  }

  // Admitted: waits for the first message.
  void Start() {
    {
      MutexLock lock(&mu_);
      idle_since_ = absl::Now();
    }
    ReadNext();
  }

  // Why the watchdog ended a call.
  enum class Expiry { kNone, kIdle, kWriteStalled };

  // From the watchdog (with the service's lock held): ends the call if it
  // has waited for its client (to take its last response, or to send the
  // next message) since before `cutoff`, for its first message since
  // before `first_cutoff`, or to take its last response since before
  // `write_cutoff`.
  Expiry ExpireIfIdleSince(absl::Time cutoff, absl::Time first_cutoff, absl::Time write_cutoff) {
    bool first, stalled, writing;
    {
      MutexLock lock(&mu_);
      if (finished_ || !(reading_ || writing_)) return Expiry::kNone;
      first = awaiting_first_;
      writing = writing_;
      stalled = writing_ && write_since_ <= write_cutoff;
      if (!stalled && idle_since_ > (first ? first_cutoff : cutoff)) return Expiry::kNone;
      finished_ = true;
      if (writing_) ended_writing_at_ = absl::Now();
    }
    if (ended_) {
      // Committed or rolled back already, as the response not yet taken
      // says: that stands. The status goes after it.
      EndClaimed(absl::OkStatus());
      return Expiry::kNone;
    }
    if (stalled) {
      EndClaimed(WriteStalled(service_->options_.stream_write_timeout,
                              absl::StrCat("the interactive transaction was rolled back after ",
                                           statements_, " statements")));
      return Expiry::kWriteStalled;
    }
    if (first) {
      EndClaimed(sql::MakeStatus(
          absl::StatusCode::kAborted, txgate::v1::TRANSACTION_IDLE_TIMEOUT,
          absl::StrCat("the Transaction stream sent no first message (begin or a statement) "
                       "within --transaction_begin_timeout (",
                       absl::FormatDuration(service_->options_.transaction_begin_timeout),
                       "); nothing was run. Open the stream when its first message is ready")));
      return Expiry::kIdle;
    }
    const absl::Duration timeout = service_->options_.transaction_idle_timeout;
    EndClaimed(sql::MakeStatus(
        absl::StatusCode::kAborted, txgate::v1::TRANSACTION_IDLE_TIMEOUT,
        absl::StrCat("the interactive transaction waited for its client longer than "
                     "--transaction_idle_timeout (",
                     absl::FormatDuration(timeout), "; ",
                     writing ? "its last response was still not taken" : "it sent no next message",
                     "); it was rolled back")));
    return Expiry::kIdle;
  }

  // From the watchdog: true (once) if the call was ended while its client
  // had not taken a response, before `cutoff`, and still has not.
  bool ResetDue(absl::Time cutoff) {
    MutexLock lock(&mu_);
    if (!finished_ || !writing_ || reset_ || ended_writing_at_ > cutoff) return false;
    reset_ = true;
    return true;
  }

  // From Drain(): ends the call now if it waits for its client, else as
  // soon as it does.
  void Drain() {
    {
      MutexLock lock(&mu_);
      draining_ = true;
      // A committed or rolled back call whose response waits for its
      // client ends by itself (or with the drain's final cancel).
      if (finished_ || !(reading_ || (writing_ && !ended_))) return;
      finished_ = true;
      if (writing_) ended_writing_at_ = absl::Now();
    }
    EndClaimed(ShuttingDown());
  }

  void OnReadDone(bool ok) override {
    bool first;
    {
      MutexLock lock(&mu_);
      reading_ = false;
      if (finished_) return;  // ended while waiting (idle, draining)
      first = awaiting_first_;
      awaiting_first_ = false;
    }
    // The wait for a connection counts from this message's arrival.
    call_->set_acquire_by(service_->AcquireBy(call_->deadline()));
    call_->set_buffer_by(service_->AnswerBy(call_->deadline()));
    absl::Status admitted;
    if (ok) {
      const int64_t bytes = WireBytes(wire_request_);
      std::optional<BytesReservation> reserved = BytesReservation::Try(
          &service_->inflight_bytes_, service_->options_.max_inflight_request_bytes, bytes);
      if (reserved.has_value()) {
        step_bytes_ = std::move(*reserved);
      } else {
        ++service_->overload_refusals_;
        admitted = service_->BytesRefused(bytes);
      }
      request_.Clear();
      if (admitted.ok() && !Decode(&wire_request_, &request_)) {
        admitted = Undecodable("txgate.v1.TransactionRequest");
      }
      wire_request_.Clear();
      if (admitted.ok() && first) admitted = service_->TakeSlot(this);
    }
    if (!admitted.ok()) {
      executor_->Submit([this, admitted] { End(admitted); });
      return;
    }
    executor_->Submit([this, ok] {
      if (!ok) {
        // The client closed its side (or the stream broke) before a commit.
        return End(
            sql::MakeStatus(absl::StatusCode::kAborted, txgate::v1::TRANSACTION_NOT_COMMITTED,
                            "the stream ended without a commit; the transaction was "
                            "rolled back"),
            /*abandon=*/true);
      }
      Handle();
    });
  }

  void OnWriteDone(bool ok) override {
    {
      MutexLock lock(&mu_);
      writing_ = false;
      if (finished_) return;  // ended while the client did not read
      if (ok && ended_) finished_ = true;
    }
    if (!ok) {
      executor_->Submit([this] {
        End(sql::MakeStatus(absl::StatusCode::kCancelled, txgate::v1::CANCELLED,
                            "the client went away"),
            /*abandon=*/true);
      });
      return;
    }
    if (ended_) {
      FinishWith(record_->Finish(absl::OkStatus()));
      return;
    }
    ReadNext();
  }

  void OnCancel() override {
    if (call_->Cancel()) call_->killer_or(backend_.killer)->Kill(call_);
  }
  void OnDone() override {
    service_->Unregister(this);
    service_->Untrack(call_.get());
    Unpin();
  }

 private:
  static absl::Status ShuttingDown() {
    return sql::MakeStatus(absl::StatusCode::kUnavailable, txgate::v1::SERVER_SHUTTING_DOWN,
                           "the server is shutting down; the transaction was rolled back "
                           "(nothing of it was committed: retry it on another server)");
  }

  // Frees the slot and the message's bytes, then sends `status`: the
  // client may open its next stream as soon as it sees it.
  void FinishWith(const grpc::Status& status) {
    service_->ReleaseSlot(this);
    step_bytes_.Release();
    Finish(status);
  }

  // Waits for the client's next message, unless draining.
  void ReadNext() {
    bool draining;
    {
      MutexLock lock(&mu_);
      draining = draining_;
      if (draining) {
        finished_ = true;
      } else {
        reading_ = true;  // idle since the last response was handed over
      }
    }
    if (draining) return EndClaimed(ShuttingDown());
    StartRead(&wire_request_);
  }

  void Handle() {
    response_.Clear();
    switch (request_.action_case()) {
      case TransactionRequest::kBegin: {
        if (txn_ != nullptr) return End(Invalid("begin may only be the first message"));
        absl::Status status = Open(request_.begin());
        if (!status.ok()) return End(status);
        response_.mutable_begun();
        break;
      }
      case TransactionRequest::kStatement: {
        if (txn_ == nullptr) {
          // A statement first opens the transaction with default options.
          absl::Status status = Open(txgate::v1::Begin());
          if (!status.ok()) return End(status);
        }
        ++statements_;
        if (read_only_ && !ReadOnlyAllowed(request_.statement().sql())) {
          return End(ReadOnlyRefused());
        }
        absl::StatusOr<txgate::v1::ResultSet> result = txn_->Run(*call_, request_.statement());
        if (!result.ok()) return End(result.status());
        *response_.mutable_result() = std::move(*result);
        break;
      }
      case TransactionRequest::kCommit: {
        if (txn_ == nullptr) return End(Invalid("commit before begin"));
        txgate::v1::Commit commit = request_.commit();
        // A read-only transaction has nothing to make exactly-once, and the
        // outcome record would be a write its account may not make: the key
        // is ignored (as RunTransaction does).
        if (read_only_) commit.clear_idempotency_key();
        absl::Status status = txn_->Commit(*call_, commit);
        if (!status.ok()) return End(status);
        response_.mutable_committed()->set_causality_token(txn_->causality_token());
        txn_.reset();
        ended_ = true;
        break;
      }
      case TransactionRequest::kRollback: {
        if (txn_ != nullptr) {
          absl::Status status = txn_->Rollback(*call_);
          if (!status.ok()) return End(status);
          txn_.reset();
        }
        ended_ = true;
        response_.mutable_rolled_back();
        break;
      }
      case TransactionRequest::ACTION_NOT_SET:
        return End(Invalid("a TransactionRequest needs one of begin, statement, commit, rollback"));
    }
    step_bytes_.Release();
    if (absl::Status encoded = Encode(response_, &wire_response_); !encoded.ok()) {
      return End(encoded);
    }
    {
      // The client's turn: to take this response, then to send the next
      // message; both count as idle.
      MutexLock lock(&mu_);
      writing_ = true;
      write_since_ = idle_since_ = absl::Now();
    }
    StartWrite(&wire_response_);
  }

  absl::Status Open(txgate::v1::Begin begin) {
    if (read_only_) begin.mutable_options()->set_read_only(true);
    // A read-only transaction may run on a replica (its statements come
    // later: whatever they are, the session's READ ONLY refuses writes).
    using Txn = std::unique_ptr<runner::TransactionRunner::Interactive>;
    absl::StatusOr<Txn> txn = service_->RunRead<Txn>(
        *call_, backend_.runner, begin.options().read(), begin.options().read_only(),
        [&](runner::TransactionRunner* r) { return r->Begin(*call_, begin); });
    if (!txn.ok()) return txn.status();
    txn_ = std::move(*txn);
    return absl::OkStatus();
  }

  static absl::Status Invalid(absl::string_view message) {
    return sql::MakeStatus(absl::StatusCode::kInvalidArgument, txgate::v1::INVALID_REQUEST,
                           message);
  }

  // Rolls back (by returning the lease, on an executor thread) and ends,
  // unless the call was already ended. `abandon`: see DropTransaction.
  void End(const absl::Status& status, bool abandon = false) {
    {
      MutexLock lock(&mu_);
      if (finished_) return;
      finished_ = true;
    }
    DropTransaction(abandon || call_->cancelled());
    FinishWith(RecordedStatus(status));
  }

  // Ends a call claimed (finished_ set) while no handler runs: by a
  // timeout or the drain, so its transaction is abandoned.
  void EndClaimed(absl::Status status) {
    executor_->Submit([this, status = std::move(status)] {
      DropTransaction(/*abandon=*/true);
      FinishWith(RecordedStatus(status));
    });
  }

  // Gives the open transaction up (rolled back). `abandon`, for an end
  // that must not wait for the database (a timeout, the drain, a client
  // gone or cancelled): its connection is closed without a round trip and
  // the server rolls back when it reads the close — a ROLLBACK would hang
  // on a hung server until --mysql_read_timeout. Otherwise (the database
  // just answered) ROLLBACK, and the connection goes back to the pool.
  void DropTransaction(bool abandon) {
    if (txn_ != nullptr && abandon) txn_->Abandon();
    txn_.reset();
  }

  grpc::Status RecordedStatus(const absl::Status& status) {
    record_->Set("statements", statements_);
    return record_->Finish(Settled(*call_, status));
  }

  // Constant after construction; CallContext and CallRecord are
  // thread-safe where they are shared.
  const std::shared_ptr<CallContext> call_;
  DatabaseService* const service_;
  const Backend backend_;
  Executor* const executor_;
  const std::unique_ptr<CallRecord> record_;
  const bool read_only_;

  // The call's steps run one at a time, each handing over to the next:
  // a reaction (OnReadDone, OnWriteDone) submits a task to the executor, the
  // task starts the next read or write, and gRPC then runs the next
  // reaction; Submit and gRPC order each step after the previous one. The
  // fields below are touched only by the running step (or, once the call
  // is claimed under mu_ by Drain() or the watchdog while it waits for its
  // client, by the one task that ends it), so they need no lock.
  std::unique_ptr<runner::TransactionRunner::Interactive> txn_;
  grpc::ByteBuffer wire_request_;  // the message being read
  TransactionRequest request_;     // ... decoded
  TransactionResponse response_;
  grpc::ByteBuffer wire_response_;  // response_'s bytes, being written
  bool ended_ = false;
  int statements_ = 0;
  BytesReservation step_bytes_;  // the message being handled

  // Acquired after DatabaseService::mu_ (Drain(), WatchIdle()).
  Mutex mu_ ABSL_ACQUIRED_AFTER(service_->mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  bool awaiting_first_ ABSL_GUARDED_BY(mu_) = true;  // no message arrived yet
  absl::Time idle_since_ ABSL_GUARDED_BY(mu_);       // since the client's turn began
  bool writing_ ABSL_GUARDED_BY(mu_) = false;        // a response waits for the client
  absl::Time write_since_ ABSL_GUARDED_BY(mu_);
  absl::Time ended_writing_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool reset_ ABSL_GUARDED_BY(mu_) = false;
};

DatabaseService::DatabaseService(Backend read_write, Backend read_only, Executor* executor,
                                 ServiceOptions options, const auth::TokenAuthenticator* auth,
                                 metrics::Metrics* metrics)
    : read_write_(read_write),
      read_only_(read_only),
      executor_(executor),
      options_(options),
      auth_(auth),
      metrics_(metrics) {
  absl::Duration shortest = absl::InfiniteDuration();
  for (absl::Duration t : {options_.transaction_idle_timeout, options_.transaction_begin_timeout,
                           options_.stream_write_timeout}) {
    if (t > absl::ZeroDuration()) shortest = std::min(shortest, t);
  }
  if (shortest != absl::InfiniteDuration()) {
    const absl::Duration tick = std::clamp(shortest / 4, absl::Milliseconds(10), absl::Seconds(1));
    watchdog_.emplace("txgate-idle", tick, [this] { WatchIdle(); });
  }
}

DatabaseService::~DatabaseService() { Stop(); }

void DatabaseService::Stop() {
  if (watchdog_.has_value()) watchdog_->Stop();
}

void DatabaseService::Drain() {
  MutexLock lock(&mu_);
  draining_ = true;
  for (TransactionCall* call : open_) call->Drain();
}

void DatabaseService::CutForShutdown() {
  std::vector<std::pair<std::shared_ptr<CallContext>, runner::StatementKiller*>> live;
  {
    MutexLock lock(&mu_);
    for (const auto& entry : live_) live.push_back(entry.second);
  }
  for (auto& [call, killer] : live) {
    if (call->CancelForShutdown() && killer != nullptr) call->killer_or(killer)->Kill(call);
  }
}

int DatabaseService::open_transactions() const {
  MutexLock lock(&mu_);
  return static_cast<int>(slots_.size());
}

void DatabaseService::WatchIdle() {
  std::vector<StreamReactor*> resets;
  {
    MutexLock lock(&mu_);
    const absl::Time now = absl::Now();
    auto cutoff = [now](absl::Duration timeout) {
      return timeout > absl::ZeroDuration() ? now - timeout : absl::InfinitePast();
    };
    const absl::Time idle = cutoff(options_.transaction_idle_timeout);
    const absl::Time first = cutoff(options_.transaction_begin_timeout);
    const absl::Time write = cutoff(options_.stream_write_timeout);
    for (TransactionCall* call : open_) {
      switch (call->ExpireIfIdleSince(idle, first, write)) {
        case TransactionCall::Expiry::kIdle:
          ++idle_timeouts_;
          break;
        case TransactionCall::Expiry::kWriteStalled:
          ++write_timeouts_;
          break;
        case TransactionCall::Expiry::kNone:
          if (call->ResetDue(write)) {
            call->Pin();
            resets.push_back(call);
          }
          break;
      }
    }
    for (StreamQueryCall* call : streams_) {
      if (call->ExpireIfStalledSince(write, options_.stream_write_timeout)) {
        ++write_timeouts_;
      } else if (call->ResetDue(write)) {
        call->Pin();
        resets.push_back(call);
      }
    }
  }
  // Their status has waited for their client as long again: reset them
  // (RST_STREAM), which frees gRPC's buffers and the stream's slot. Without
  // any lock: TryCancel may run the reactor's OnDone here.
  for (StreamReactor* call : resets) {
    call->Reset();
    call->Unpin();
  }
}

absl::Status DatabaseService::StreamRoom() const {
  const size_t open = open_.size() + streams_.size();
  if (static_cast<int64_t>(open) < options_.max_open_streams) return absl::OkStatus();
  return sql::MakeStatus(
      absl::StatusCode::kResourceExhausted, txgate::v1::SERVER_OVERLOADED,
      absl::StrCat("the server is overloaded: ", open,
                   " streams are open already (--max_open_streams); nothing of this one ran, "
                   "retry later or on another server"));
}

int DatabaseService::open_streams() const {
  MutexLock lock(&mu_);
  return static_cast<int>(open_.size() + streams_.size());
}

absl::Status DatabaseService::Register(TransactionCall* call) {
  MutexLock lock(&mu_);
  if (draining_) return ShuttingDown("");
  if (absl::Status room = StreamRoom(); !room.ok()) {
    ++overload_refusals_;
    return room;
  }
  open_.insert(call);
  return absl::OkStatus();
}

absl::Status DatabaseService::Register(StreamQueryCall* call) {
  MutexLock lock(&mu_);
  if (absl::Status room = StreamRoom(); !room.ok()) {
    ++overload_refusals_;
    return room;
  }
  streams_.insert(call);
  return absl::OkStatus();
}

void DatabaseService::Unregister(StreamQueryCall* call) {
  MutexLock lock(&mu_);
  streams_.erase(call);
}

absl::Status DatabaseService::TakeSlot(TransactionCall* call) {
  MutexLock lock(&mu_);
  if (draining_) return ShuttingDown("");
  if (static_cast<int>(slots_.size()) >= options_.max_open_transactions) {
    return sql::MakeStatus(
        absl::StatusCode::kResourceExhausted, txgate::v1::TOO_MANY_TRANSACTIONS,
        absl::StrCat("this server already holds ", slots_.size(),
                     " open interactive transactions (--max_open_transactions); retry later "
                     "or use RunTransaction"));
  }
  slots_.insert(call);
  return absl::OkStatus();
}

void DatabaseService::ReleaseSlot(TransactionCall* call) {
  MutexLock lock(&mu_);
  slots_.erase(call);
}

void DatabaseService::Unregister(TransactionCall* call) {
  MutexLock lock(&mu_);
  open_.erase(call);
  slots_.erase(call);
}

void DatabaseService::Untrack(const CallContext* call) {
  MutexLock lock(&mu_);
  live_.erase(call);
}

absl::Time DatabaseService::AcquireBy(absl::Time deadline) const {
  return std::min(absl::Now() + options_.acquire_timeout, AnswerBy(deadline));
}

absl::Time DatabaseService::AnswerBy(absl::Time deadline) const {
  if (deadline == absl::InfiniteFuture()) return deadline;
  // Answer before the caller's deadline, so that it hears why (not
  // DEADLINE_EXCEEDED): a tenth of its time, 5 ms to 250 ms.
  const absl::Duration margin =
      std::clamp((deadline - absl::Now()) / 10, absl::Milliseconds(5), absl::Milliseconds(250));
  return deadline - margin;
}

absl::Status DatabaseService::BytesRefused(int64_t bytes) const {
  return sql::MakeStatus(absl::StatusCode::kResourceExhausted, txgate::v1::SERVER_OVERLOADED,
                         absl::StrCat("the server is handling ", inflight_bytes_.load(),
                                      " bytes of requests already; this one (", bytes,
                                      " bytes) would go beyond --max_inflight_request_bytes (",
                                      options_.max_inflight_request_bytes,
                                      "); nothing of it ran, retry later or on another server"));
}

void DatabaseService::Dispatch(const CallContext& call, Executor::Task work,
                               absl::AnyInvocable<void(const absl::Status&)> end) {
  auto shared_end = std::make_shared<absl::AnyInvocable<void(const absl::Status&)>>(std::move(end));
  const size_t max_queued = static_cast<size_t>(std::max(0, options_.max_queued_calls));
  const bool queued = executor_->TrySubmit(
      std::move(work), max_queued, call.acquire_deadline(), [this, shared_end] {
        ++overload_refusals_;
        (*shared_end)(sql::MakeStatus(
            absl::StatusCode::kUnavailable, txgate::v1::SERVER_OVERLOADED,
            absl::StrCat("no worker was free for this call within --pool_acquire_timeout (",
                         absl::FormatDuration(options_.acquire_timeout),
                         ") or before its deadline: the server is overloaded (",
                         executor_->queued(),
                         " calls wait; --worker_threads, --max_queued_calls); nothing of it "
                         "ran, retry later or on another server")));
      });
  if (queued) return;
  ++overload_refusals_;
  (*shared_end)(sql::MakeStatus(
      absl::StatusCode::kResourceExhausted, txgate::v1::SERVER_OVERLOADED,
      absl::StrCat("the server is overloaded: ", options_.max_queued_calls,
                   " calls wait for a worker already (--max_queued_calls); nothing of this one "
                   "ran, retry later or on another server")));
}

std::unique_ptr<CallRecord> DatabaseService::Record(grpc::CallbackServerContext* context,
                                                    absl::string_view method) {
  // One generator per thread: no lock on the per-call path.
  thread_local absl::BitGen random;
  const uint64_t hi = absl::Uniform<uint64_t>(random);
  const uint64_t lo = absl::Uniform<uint64_t>(random);
  return std::make_unique<CallRecord>(context, method, metrics_,
                                      absl::StrFormat("%016x%016x", hi, lo), &unfinished_);
}

absl::StatusOr<auth::Principal> DatabaseService::Authenticate(
    grpc::CallbackServerContext* context) const {
  if (auth_ == nullptr) return auth::Principal{};
  const auto& md = context->client_metadata();
  auto it = md.find("authorization");
  const absl::string_view value = it == md.end()
                                      ? absl::string_view()
                                      : absl::string_view(it->second.data(), it->second.size());
  return auth_->Authenticate(value);
}

// What Admit() found out about a call.
struct DatabaseService::Admission {
  std::shared_ptr<CallContext> call;
  std::unique_ptr<CallRecord> record;
  auth::Principal principal;  // meaningful only when admitted
  Backend backend;            // where its work runs (read-write if refused)
  absl::Status refused;       // OK: admitted
  BytesReservation bytes;     // of the request, while admitted
};

DatabaseService::Admission DatabaseService::Admit(grpc::CallbackServerContext* context,
                                                  absl::string_view method, const std::string* sql,
                                                  int64_t request_bytes,
                                                  std::optional<int> statements) {
  Admission a = Identify(context, method, sql, statements);
  a.call->set_acquire_by(AcquireBy(a.call->deadline()));
  a.call->set_buffer_by(AnswerBy(a.call->deadline()));
  {
    MutexLock lock(&mu_);
    live_.emplace(a.call.get(), std::make_pair(a.call, a.backend.killer));
    if (a.refused.ok() && draining_) a.refused = ShuttingDown("");
  }
  if (!a.refused.ok() || request_bytes <= 0) return a;
  std::optional<BytesReservation> reserved =
      BytesReservation::Try(&inflight_bytes_, options_.max_inflight_request_bytes, request_bytes);
  if (reserved.has_value()) {
    a.bytes = std::move(*reserved);
  } else {
    ++overload_refusals_;
    a.refused = BytesRefused(request_bytes);
  }
  return a;
}

DatabaseService::Admission DatabaseService::Identify(grpc::CallbackServerContext* context,
                                                     absl::string_view method,
                                                     const std::string* sql,
                                                     std::optional<int> statements) {
  Admission a;
  a.backend = read_write_;
  a.record = Record(context, method);
  a.call = MakeCallContext(context);
  if (sql != nullptr) a.record->DescribeSql(*sql);
  if (statements.has_value()) a.record->Set("statements", *statements);
  absl::StatusOr<auth::Principal> principal = Authenticate(context);
  if (!principal.ok()) {
    a.refused = principal.status();
    return a;
  }
  a.principal = std::move(*principal);
  if (auth_ != nullptr) a.record->Set("token", a.principal.name);
  if (!a.principal.read_only) return a;
  if (read_only_.runner == nullptr) {
    // Server::Start refuses ro tokens without a read-only account; this
    // keeps a service built otherwise from running them as read-write.
    a.refused = sql::MakeStatus(absl::StatusCode::kPermissionDenied, txgate::v1::READ_ONLY_TOKEN,
                                "this token is read-only, and this server has no read-only "
                                "database account (--mysql_ro_user) to run its work");
    return a;
  }
  a.backend = read_only_;
  if (sql != nullptr && !ReadOnlyAllowed(*sql)) a.refused = ReadOnlyRefused();
  return a;
}

grpc::ServerUnaryReactor* DatabaseService::Execute(grpc::CallbackServerContext* context,
                                                   const grpc::ByteBuffer* wire,
                                                   grpc::ByteBuffer* wire_response) {
  auto request = std::make_shared<txgate::v1::ExecuteRequest>();
  const int64_t bytes = WireBytes(*wire);
  const bool decoded = Decode(Consumed(wire), request.get());
  Admission a = Admit(context, "Execute", decoded ? &request->sql() : nullptr, bytes);
  auto* reactor = new UnaryCall<txgate::v1::ExecuteResponse>(this, std::move(a.call),
                                                             a.backend.killer, std::move(a.record),
                                                             std::move(a.bytes), wire_response);
  if (!a.refused.ok() || !decoded) {
    reactor->End(!a.refused.ok() ? a.refused : Undecodable("txgate.v1.ExecuteRequest"));
    return reactor;
  }
  // The inline fast path: ended here, on gRPC's thread, when it can be —
  // not for a read routed to a replica (its GTID wait blocks).
  const bool replica =
      ReplicaReadable(request->sql()) && WouldRoute(a.backend.runner, request->read());
  runner::TransactionRunner::InlineResult begun =
      replica ? runner::TransactionRunner::InlineResult()
              : a.backend.runner->ExecuteInline(reactor->call(), *request, options_.inline_wait);
  if (begun.answer.has_value()) {
    // A connection whose return may block goes back on a worker thread.
    if (begun.rest != nullptr) executor_->Submit([rest = std::move(begun.rest)] {});
    reactor->record().Set("inline", "completed");
    if (begun.answer->ok()) reactor->response() = std::move(**begun.answer);
    reactor->End(begun.answer->status());
    return reactor;
  }
  if (begun.rest != nullptr) reactor->record().Set("inline", "handed_over");
  Dispatch(
      reactor->call(),
      [this, runner = a.backend.runner, reactor, request, rest = std::move(begun.rest)]() mutable {
        // Begun inline (on the primary): its first attempt goes on there.
        absl::StatusOr<txgate::v1::ExecuteResponse> result =
            rest != nullptr
                ? runner->ExecuteHandedOver(reactor->call(), *request, std::move(rest))
                : RunRead<txgate::v1::ExecuteResponse>(
                      reactor->call(), runner, request->read(), ReplicaReadable(request->sql()),
                      [&](runner::TransactionRunner* r) {
                        return r->Execute(reactor->call(), *request);
                      });
        if (result.ok()) reactor->response() = std::move(*result);
        reactor->End(result.status());
      },
      [reactor](const absl::Status& status) { reactor->End(status); });
  return reactor;
}

grpc::ServerUnaryReactor* DatabaseService::RunTransaction(grpc::CallbackServerContext* context,
                                                          const grpc::ByteBuffer* wire,
                                                          grpc::ByteBuffer* wire_response) {
  auto request = std::make_shared<txgate::v1::RunTransactionRequest>();
  const int64_t bytes = WireBytes(*wire);
  const bool decoded = Decode(Consumed(wire), request.get());
  Admission a = Admit(context, "RunTransaction", nullptr, bytes,
                      decoded ? std::optional<int>(request->statements_size()) : std::nullopt);
  auto* reactor = new UnaryCall<txgate::v1::RunTransactionResponse>(
      this, std::move(a.call), a.backend.killer, std::move(a.record), std::move(a.bytes),
      wire_response);
  if (!a.refused.ok() || !decoded) {
    reactor->End(!a.refused.ok() ? a.refused : Undecodable("txgate.v1.RunTransactionRequest"));
    return reactor;
  }
  if (a.principal.read_only) {
    // It runs on the read-only account, which the database lets only read.
    // START TRANSACTION READ ONLY on top refuses writes early (1792). The
    // idempotency key is ignored: nothing to make exactly-once, and the
    // outcome record would be a write (the Transaction stream's commit
    // does the same).
    for (const txgate::v1::Statement& statement : request->statements()) {
      if (!ReadOnlyAllowed(statement.sql())) {
        reactor->End(ReadOnlyRefused());
        return reactor;
      }
    }
    request->mutable_options()->set_read_only(true);
    request->clear_idempotency_key();
  }
  Dispatch(
      reactor->call(),
      [this, runner = a.backend.runner, reactor, request] {
        // A read-only transaction of plain reads may run on a replica.
        bool routable = request->options().read_only();
        for (const txgate::v1::Statement& st : request->statements()) {
          routable = routable && ReplicaReadable(st.sql());
        }
        absl::StatusOr<txgate::v1::RunTransactionResponse> result =
            RunRead<txgate::v1::RunTransactionResponse>(
                reactor->call(), runner, request->options().read(), routable,
                [&](runner::TransactionRunner* r) {
                  return r->RunTransaction(reactor->call(), *request);
                });
        if (result.ok()) reactor->response() = std::move(*result);
        reactor->End(result.status());
      },
      [reactor](const absl::Status& status) { reactor->End(status); });
  return reactor;
}

grpc::ServerWriteReactor<grpc::ByteBuffer>* DatabaseService::StreamQuery(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* wire) {
  txgate::v1::StreamQueryRequest request;
  const int64_t bytes = WireBytes(*wire);
  const bool decoded = Decode(Consumed(wire), &request);
  Admission a = Admit(context, "StreamQuery", decoded ? &request.sql() : nullptr, bytes);
  auto* reactor =
      new StreamQueryCall(this, context, std::move(a.call), std::move(request), a.backend.runner,
                          a.backend.killer, executor_, std::move(a.record), std::move(a.bytes));
  if (a.refused.ok() && !decoded) a.refused = Undecodable("txgate.v1.StreamQueryRequest");
  if (a.refused.ok()) a.refused = Register(reactor);
  if (!a.refused.ok()) {
    reactor->End(a.refused);
    return reactor;
  }
  Dispatch(
      reactor->call(), [reactor] { reactor->Start(); },
      [reactor](const absl::Status& status) { reactor->End(status); });
  return reactor;
}

grpc::ServerBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer>* DatabaseService::Transaction(
    grpc::CallbackServerContext* context) {
  // Its messages' bytes are counted (and decoded) as each arrives.
  Admission a = Admit(context, "Transaction", nullptr, 0);
  auto* call = new TransactionCall(context, std::move(a.call), this, a.backend, std::move(a.record),
                                   a.refused.ok() && a.principal.read_only);
  if (!a.refused.ok()) {
    call->Refuse(a.refused);
    return call;
  }
  if (absl::Status admitted = Register(call); !admitted.ok()) {
    call->Refuse(admitted);
    return call;
  }
  call->Start();
  return call;
}

}  // namespace txgate::service
