#include "txgate/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>

#include <algorithm>
#include <utility>

#include "absl/random/distributions.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "txgate/service_config.inc"  // kEmbeddedServiceConfig, generated

namespace txgate::client {
namespace {

using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

void SetParams(absl::Span<const Value> params,
               google::protobuf::RepeatedPtrField<txgate::v1::Value>* out) {
  out->Reserve(static_cast<int>(params.size()));
  for (const Value& p : params) *out->Add() = p.proto();
}

void SetDeadline(grpc::ClientContext* context, absl::Duration timeout) {
  if (timeout > absl::ZeroDuration() && timeout != absl::InfiniteDuration()) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

const char* StateName(InteractiveTransaction::State state) {
  switch (state) {
    case InteractiveTransaction::State::kOpen:
      return "open";
    case InteractiveTransaction::State::kCommitted:
      return "committed";
    case InteractiveTransaction::State::kRolledBack:
      return "rolled back";
    case InteractiveTransaction::State::kFailed:
      return "failed";
  }
  return "unknown";
}

// The text of a value that may come in pieces (string, bytes, JSON), or
// null.
std::string* MutableText(txgate::v1::Value* v) {
  switch (v->kind_case()) {
    case txgate::v1::Value::kStringValue:
      return v->mutable_string_value();
    case txgate::v1::Value::kBytesValue:
      return v->mutable_bytes_value();
    case txgate::v1::Value::kJsonValue:
      return v->mutable_json_value();
    default:
      return nullptr;
  }
}

// Joins rows split across chunks (StreamQueryResponse.chunked_value): the
// pieces of a split value are appended to it in order.
class RowJoiner {
 public:
  // Passes each row that ends in `chunk` to `on_row`, counting them in
  // `rows`; the first error of the callback, or INTERNAL for a malformed
  // continuation.
  absl::Status Take(txgate::v1::StreamQueryResponse* chunk, const RowCallback& on_row,
                    int64_t* rows) {
    const int n = chunk->rows_size();
    for (int i = 0; i < n; ++i) {
      txgate::v1::Row& row = *chunk->mutable_rows(i);
      const bool cut = chunk->chunked_value() && i == n - 1;
      txgate::v1::Row* whole = &row;
      if (i == 0 && split_) {
        txgate::v1::Value* last = held_.mutable_values(held_.values_size() - 1);
        if (row.values_size() == 0 || row.values(0).kind_case() != last->kind_case()) {
          return absl::InternalError("a chunked value's next piece is missing or of another kind");
        }
        MutableText(last)->append(*MutableText(row.mutable_values(0)));
        if (cut && row.values_size() == 1) continue;  // the value goes on in the next chunk
        for (int k = 1; k < row.values_size(); ++k) {
          *held_.add_values() = std::move(*row.mutable_values(k));
        }
        split_ = false;
        whole = &held_;
      }
      if (cut) {
        if (whole->values_size() == 0 ||
            MutableText(whole->mutable_values(whole->values_size() - 1)) == nullptr) {
          return absl::InternalError("a chunked value that is not text or bytes");
        }
        if (whole != &held_) held_ = std::move(row);
        split_ = true;
        continue;
      }
      if (absl::Status s = on_row(*whole); !s.ok()) return s;
      ++*rows;
      if (whole == &held_) held_.Clear();
    }
    return absl::OkStatus();
  }

  // True while a row waits for its next piece.
  bool split() const { return split_; }

 private:
  txgate::v1::Row held_;
  bool split_ = false;
};

}  // namespace

Client::Client(absl::string_view target, Options options) : options_(std::move(options)) {
  std::shared_ptr<grpc::ChannelCredentials> credentials =
      options_.credentials != nullptr ? options_.credentials : grpc::InsecureChannelCredentials();
  channel_ = grpc::CreateCustomChannel(std::string(target), credentials, ChannelArgs(options_));
  stub_ = txgate::v1::DatabaseService::NewStub(channel_);
}

Client::Client(std::shared_ptr<grpc::Channel> channel, Options options)
    : options_(std::move(options)), channel_(std::move(channel)) {
  stub_ = txgate::v1::DatabaseService::NewStub(channel_);
}

Client::~Client() = default;

std::string Client::causality_token() const {
  absl::MutexLock lock(&token_mu_);
  return causality_token_;
}

void Client::ClearCausalityToken() {
  absl::MutexLock lock(&token_mu_);
  causality_token_.clear();
}

void Client::Observe(const std::string& token) {
  if (token.empty()) return;
  absl::MutexLock lock(&token_mu_);
  causality_token_ = token;
}

txgate::v1::ReadOptions Client::ReadOptions(txgate::v1::ReadRouting routing) const {
  txgate::v1::ReadOptions read;
  read.set_routing(routing != txgate::v1::READ_ROUTING_UNSPECIFIED ? routing : options_.routing);
  read.set_causality_token(causality_token());
  return read;
}

grpc::ChannelArguments Client::ChannelArgs(const Options& options) {
  grpc::ChannelArguments args;
  args.SetServiceConfigJSON(options.service_config.empty() ? std::string(DefaultServiceConfig())
                                                           : options.service_config);
  args.SetInt(GRPC_ARG_ENABLE_RETRIES, 1);
  if (!options.tls_server_name.empty()) args.SetSslTargetNameOverride(options.tls_server_name);
  return args;
}

absl::string_view Client::DefaultServiceConfig() { return kEmbeddedServiceConfig; }

std::string Client::NewIdempotencyKey() {
  absl::MutexLock lock(&mu_);
  const uint64_t hi = absl::Uniform<uint64_t>(random_);
  const uint64_t lo = absl::Uniform<uint64_t>(random_);
  return absl::StrFormat("%016x%016x", hi, lo);
}

absl::Duration Client::Jitter(absl::Duration backoff) {
  absl::MutexLock lock(&mu_);
  return backoff / 2 + absl::Uniform(random_, 0.0, 1.0) * (backoff / 2);
}

bool Client::Retryable(const grpc::Status& status, bool safe) {
  if (status.error_code() == grpc::StatusCode::UNAVAILABLE &&
      Error::FromGrpcStatus(status).domain == kErrorDomain) {
    return true;  // txgate's own: nothing of the call was applied
  }
  if (!safe) return false;
  // A CANCELLED without txgate's ErrorInfo is gRPC's: its server cancels a
  // call it accepted as a drain starts, before txgate saw it (README,
  // "Shutdown"). WithRetries' ClientContext is its own and never cancelled,
  // so the application cannot have caused it.
  return status.error_code() == grpc::StatusCode::UNAVAILABLE ||
         (status.error_code() == grpc::StatusCode::UNKNOWN &&
          Error::FromGrpcStatus(status).reason == kReasonCommitOutcomeUnknown) ||
         (status.error_code() == grpc::StatusCode::CANCELLED &&
          Error::FromGrpcStatus(status).domain != kErrorDomain);
}

absl::StatusOr<int> Client::WithRetries(
    const std::function<grpc::Status(grpc::ClientContext*)>& call, const std::string& key,
    bool safe, absl::Time deadline) {
  absl::Duration backoff = options_.initial_backoff;
  for (int calls = 1;; ++calls) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(deadline));
    grpc::Status status = call(&context);
    if (status.ok()) return calls;
    absl::Status error = StatusFromGrpc(status, key);
    if (!Retryable(status, safe)) return error;
    const absl::Duration pause = Jitter(backoff);
    if (absl::Now() + pause >= deadline) return error;
    absl::SleepFor(pause);
    backoff = std::min(backoff * 2, options_.max_backoff);
  }
}

absl::StatusOr<txgate::v1::ResultSet> Client::Execute(absl::string_view sql,
                                                      absl::Span<const Value> params) {
  absl::StatusOr<ExecuteResult> result = ExecuteWith(sql, params, ExecuteOptions());
  if (!result.ok()) return result.status();
  return std::move(result->result);
}

absl::StatusOr<ExecuteResult> Client::ExecuteWith(absl::string_view sql,
                                                  absl::Span<const Value> params,
                                                  const ExecuteOptions& options) {
  std::string key = options.no_key ? "" : options.idempotency_key;
  if (key.empty() && !options.no_key) key = NewIdempotencyKey();
  txgate::v1::ExecuteRequest request;
  request.set_sql(std::string(sql));
  SetParams(params, request.mutable_params());
  request.set_idempotency_key(key);
  *request.mutable_read() = ReadOptions(options.routing);
  const absl::Duration timeout =
      options.timeout > absl::ZeroDuration() ? options.timeout : options_.call_timeout;
  txgate::v1::ExecuteResponse response;
  absl::StatusOr<int> calls = WithRetries(
      [&](grpc::ClientContext* context) {
        response.Clear();
        return stub_->Execute(context, request, &response);
      },
      key, !key.empty(), absl::Now() + timeout);
  if (!calls.ok()) return calls.status();
  Observe(response.causality_token());
  ExecuteResult result;
  result.result = std::move(*response.mutable_result());
  result.calls = *calls;
  result.idempotency_key = key;
  return result;
}

txgate::v1::Statement Statement::proto() const {
  txgate::v1::Statement st;
  st.set_sql(sql);
  SetParams(params, st.mutable_params());
  if (expect) *st.mutable_expect() = *expect;
  return st;
}

absl::StatusOr<TransactionResult> Client::RunTransaction(absl::Span<const Statement> statements,
                                                         const TransactionOptions& options) {
  std::string key = options.idempotency_key;
  if (key.empty() && !options.read_only) key = NewIdempotencyKey();
  txgate::v1::RunTransactionRequest request;
  for (const Statement& s : statements) *request.add_statements() = s.proto();
  request.mutable_options()->set_isolation_level(options.isolation_level);
  request.mutable_options()->set_read_only(options.read_only);
  if (options.read_only) *request.mutable_options()->mutable_read() = ReadOptions(options.routing);
  request.set_idempotency_key(key);

  const absl::Duration timeout =
      options.timeout > absl::ZeroDuration() ? options.timeout : options_.transaction_timeout;
  txgate::v1::RunTransactionResponse response;
  absl::StatusOr<int> calls = WithRetries(
      [&](grpc::ClientContext* context) {
        response.Clear();
        return stub_->RunTransaction(context, request, &response);
      },
      key, !key.empty() || options.read_only, absl::Now() + timeout);
  if (!calls.ok()) return calls.status();
  Observe(response.causality_token());
  TransactionResult result;
  result.results.assign(std::make_move_iterator(response.mutable_results()->begin()),
                        std::make_move_iterator(response.mutable_results()->end()));
  result.attempts = response.attempts();
  result.calls = *calls;
  result.idempotency_key = key;
  return result;
}

absl::StatusOr<StreamSummary> Client::StreamQuery(absl::string_view sql,
                                                  absl::Span<const Value> params,
                                                  const RowCallback& on_row,
                                                  uint32_t max_rows_per_chunk) {
  txgate::v1::StreamQueryRequest request;
  request.set_sql(std::string(sql));
  SetParams(params, request.mutable_params());
  request.set_max_rows_per_chunk(max_rows_per_chunk);
  // Rows larger than one message come split; RowJoiner joins them.
  request.set_accept_chunked_values(true);
  *request.mutable_read() = ReadOptions(txgate::v1::READ_ROUTING_UNSPECIFIED);
  grpc::ClientContext context;
  SetDeadline(&context, options_.stream_timeout);
  std::unique_ptr<grpc::ClientReader<txgate::v1::StreamQueryResponse>> reader =
      stub_->StreamQuery(&context, request);
  StreamSummary summary;
  absl::Status stopped;
  RowJoiner joiner;
  txgate::v1::StreamQueryResponse chunk;
  while (stopped.ok() && reader->Read(&chunk)) {
    ++summary.chunks;
    if (summary.columns.empty() && chunk.columns_size() > 0) {
      summary.columns.assign(chunk.columns().begin(), chunk.columns().end());
    }
    stopped = joiner.Take(&chunk, on_row, &summary.rows);
    if (stopped.ok() && chunk.done() && joiner.split()) {
      stopped = absl::InternalError("the stream ended inside a chunked value");
    }
    if (chunk.done()) summary.warning_count = chunk.warning_count();
  }
  if (!stopped.ok()) {
    context.TryCancel();  // txgate kills the running statement
    reader->Finish().IgnoreError();
    return stopped;
  }
  grpc::Status status = reader->Finish();
  if (!status.ok()) return StatusFromGrpc(status);
  return summary;
}

absl::StatusOr<std::unique_ptr<InteractiveTransaction>> Client::BeginTransaction(
    const TransactionOptions& options) {
  auto context = std::make_unique<grpc::ClientContext>();
  SetDeadline(context.get(), options.timeout);
  std::unique_ptr<InteractiveTransaction> txn(
      new InteractiveTransaction(this, options.read_only, std::move(context)));
  TransactionRequest begin;
  begin.mutable_begin()->mutable_options()->set_isolation_level(options.isolation_level);
  begin.mutable_begin()->mutable_options()->set_read_only(options.read_only);
  if (options.read_only) {
    *begin.mutable_begin()->mutable_options()->mutable_read() = ReadOptions(options.routing);
  }
  absl::StatusOr<TransactionResponse> begun = txn->Exchange(begin, TransactionResponse::kBegun);
  if (!begun.ok()) return begun.status();
  return txn;
}

InteractiveTransaction::InteractiveTransaction(Client* client, bool read_only,
                                               std::unique_ptr<grpc::ClientContext> context)
    : client_(client), read_only_(read_only), context_(std::move(context)) {
  stream_ = client_->stub().Transaction(context_.get());
}

InteractiveTransaction::~InteractiveTransaction() {
  if (state_ == State::kOpen) Rollback().IgnoreError();
  if (!finished_) {
    // The rollback failed (or never ran): cancelling makes txgate roll back.
    context_->TryCancel();
    stream_->Finish().IgnoreError();
    finished_ = true;
  }
}

absl::StatusOr<TransactionResponse> InteractiveTransaction::Exchange(
    const TransactionRequest& request, TransactionResponse::OutcomeCase expect) {
  if (state_ != State::kOpen) {
    return absl::FailedPreconditionError(absl::StrCat("the transaction is ", StateName(state_)));
  }
  if (!stream_->Write(request)) return Fail("the Transaction stream broke");
  TransactionResponse response;
  if (!stream_->Read(&response)) return Fail("the Transaction stream ended early");
  if (response.outcome_case() != expect) {
    context_->TryCancel();
    Fail("").IgnoreError();
    return absl::InternalError(absl::StrCat("expected outcome ", static_cast<int>(expect), ", got ",
                                            static_cast<int>(response.outcome_case())));
  }
  return response;
}

absl::Status InteractiveTransaction::Finish() {
  stream_->WritesDone();
  TransactionResponse extra;
  while (stream_->Read(&extra)) {
  }
  grpc::Status status = stream_->Finish();
  finished_ = true;
  return StatusFromGrpc(status);
}

absl::Status InteractiveTransaction::Fail(absl::string_view what) {
  state_ = State::kFailed;
  grpc::Status status = stream_->Finish();
  finished_ = true;
  if (status.ok()) return absl::InternalError(what);
  return StatusFromGrpc(status);
}

absl::StatusOr<txgate::v1::ResultSet> InteractiveTransaction::Execute(
    absl::string_view sql, absl::Span<const Value> params) {
  TransactionRequest request;
  request.mutable_statement()->set_sql(std::string(sql));
  SetParams(params, request.mutable_statement()->mutable_params());
  absl::StatusOr<TransactionResponse> response = Exchange(request, TransactionResponse::kResult);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_result());
}

absl::StatusOr<txgate::v1::ResultSet> InteractiveTransaction::Run(const Statement& statement) {
  TransactionRequest request;
  *request.mutable_statement() = statement.proto();
  absl::StatusOr<TransactionResponse> response = Exchange(request, TransactionResponse::kResult);
  if (!response.ok()) return response.status();
  return std::move(*response->mutable_result());
}

absl::StatusOr<std::string> InteractiveTransaction::Commit(absl::string_view idempotency_key) {
  std::string key(idempotency_key);
  if (key.empty() && !read_only_) key = client_->NewIdempotencyKey();
  TransactionRequest request;
  request.mutable_commit()->set_idempotency_key(key);
  absl::StatusOr<TransactionResponse> response = Exchange(request, TransactionResponse::kCommitted);
  if (!response.ok()) return WithIdempotencyKey(response.status(), key);
  state_ = State::kCommitted;
  causality_token_ = response->committed().causality_token();
  client_->Observe(causality_token_);
  // Committed is final; the stream's own end can only add noise.
  Finish().IgnoreError();
  return key;
}

absl::Status InteractiveTransaction::Rollback() {
  if (state_ == State::kRolledBack || state_ == State::kFailed) return absl::OkStatus();
  TransactionRequest request;
  request.mutable_rollback();
  absl::StatusOr<TransactionResponse> response =
      Exchange(request, TransactionResponse::kRolledBack);
  if (!response.ok()) return response.status();
  state_ = State::kRolledBack;
  return Finish();
}

}  // namespace txgate::client
