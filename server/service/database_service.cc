#include "server/service/database_service.h"

#include <chrono>
#include <memory>
#include <utility>

#include "absl/time/time.h"
#include "server/service/status_mapping.h"
#include "server/sql/error.h"

namespace txgate::service {
namespace {

using runner::CallContext;
using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

std::shared_ptr<CallContext> MakeCallContext(grpc::CallbackServerContext* context) {
  const auto deadline = context->deadline();
  const absl::Time d = deadline >= std::chrono::system_clock::time_point::max() -
                                       std::chrono::hours(24 * 365)
                           ? absl::InfiniteFuture()
                           : absl::FromChrono(deadline);
  return std::make_shared<CallContext>(d);
}

// A unary call whose work runs on the executor.
class UnaryCall final : public grpc::ServerUnaryReactor {
 public:
  UnaryCall(grpc::CallbackServerContext* context, runner::StatementKiller* killer)
      : call_(MakeCallContext(context)), killer_(killer) {}

  CallContext& call() { return *call_; }

  void OnCancel() override {
    if (call_->Cancel()) killer_->Kill(call_);
  }
  void OnDone() override { delete this; }

 private:
  std::shared_ptr<CallContext> call_;
  runner::StatementKiller* killer_;
};

class StreamQueryCall final : public grpc::ServerWriteReactor<txgate::v1::StreamQueryResponse> {
 public:
  StreamQueryCall(grpc::CallbackServerContext* context, const txgate::v1::StreamQueryRequest* request,
                  runner::TransactionRunner* runner, runner::StatementKiller* killer,
                  Executor* executor)
      : call_(MakeCallContext(context)),
        request_(request),
        runner_(runner),
        killer_(killer),
        executor_(executor) {
    executor_->Submit([this] { Start(); });
  }

  void OnWriteDone(bool ok) override {
    executor_->Submit([this, ok] {
      if (!ok) return End(sql::MakeStatus(absl::StatusCode::kCancelled, sql::kReasonCancelled,
                                          "the client went away"));
      if (last_) return End(absl::OkStatus());
      Fetch();
    });
  }
  void OnCancel() override {
    if (call_->Cancel()) killer_->Kill(call_);
  }
  void OnDone() override { delete this; }

 private:
  void Start() {
    absl::StatusOr<std::unique_ptr<runner::TransactionRunner::QueryStream>> stream =
        runner_->StartQuery(*call_, *request_);
    if (!stream.ok()) return End(stream.status());
    stream_ = std::move(*stream);
    Fetch();
  }

  void Fetch() {
    chunk_.Clear();
    absl::Status status = stream_->NextChunk(*call_, &chunk_);
    if (!status.ok()) return End(status);
    if (chunk_.done()) {
      last_ = true;
      stream_.reset();  // the connection goes back before the last write
    }
    StartWrite(&chunk_);
  }

  // Returns the connection (on this executor thread) and ends the call.
  void End(const absl::Status& status) {
    stream_.reset();
    Finish(ToGrpcStatus(status));
  }

  std::shared_ptr<CallContext> call_;
  const txgate::v1::StreamQueryRequest* request_;
  runner::TransactionRunner* runner_;
  runner::StatementKiller* killer_;
  Executor* executor_;
  std::unique_ptr<runner::TransactionRunner::QueryStream> stream_;
  txgate::v1::StreamQueryResponse chunk_;
  bool last_ = false;
};

class TransactionCall final : public grpc::ServerBidiReactor<TransactionRequest, TransactionResponse> {
 public:
  TransactionCall(grpc::CallbackServerContext* context, runner::TransactionRunner* runner,
                  runner::StatementKiller* killer, Executor* executor)
      : call_(MakeCallContext(context)), runner_(runner), killer_(killer), executor_(executor) {
    StartRead(&request_);
  }

  void OnReadDone(bool ok) override {
    executor_->Submit([this, ok] {
      if (!ok) {
        // The client closed its side (or the stream broke) before a commit.
        return End(sql::MakeStatus(absl::StatusCode::kAborted, "TRANSACTION_NOT_COMMITTED",
                                   "the stream ended without a commit; the transaction was "
                                   "rolled back"));
      }
      Handle();
    });
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      executor_->Submit([this] {
        End(sql::MakeStatus(absl::StatusCode::kCancelled, sql::kReasonCancelled,
                            "the client went away"));
      });
      return;
    }
    if (ended_) {
      Finish(grpc::Status::OK);
      return;
    }
    StartRead(&request_);
  }

  void OnCancel() override {
    if (call_->Cancel()) killer_->Kill(call_);
  }
  void OnDone() override { delete this; }

 private:
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
        absl::StatusOr<txgate::v1::ResultSet> result = txn_->Run(*call_, request_.statement());
        if (!result.ok()) return End(result.status());
        *response_.mutable_result() = std::move(*result);
        break;
      }
      case TransactionRequest::kCommit: {
        if (txn_ == nullptr) return End(Invalid("commit before begin"));
        absl::Status status = txn_->Commit(*call_, request_.commit());
        if (!status.ok()) return End(status);
        txn_.reset();
        ended_ = true;
        response_.mutable_committed();
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
    StartWrite(&response_);
  }

  absl::Status Open(const txgate::v1::Begin& begin) {
    absl::StatusOr<std::unique_ptr<runner::TransactionRunner::Interactive>> txn =
        runner_->Begin(*call_, begin);
    if (!txn.ok()) return txn.status();
    txn_ = std::move(*txn);
    return absl::OkStatus();
  }

  static absl::Status Invalid(absl::string_view message) {
    return sql::MakeStatus(absl::StatusCode::kInvalidArgument, sql::kReasonInvalidRequest, message);
  }

  // Rolls back (by returning the lease, on this executor thread) and ends.
  void End(const absl::Status& status) {
    txn_.reset();
    Finish(ToGrpcStatus(status));
  }

  std::shared_ptr<CallContext> call_;
  runner::TransactionRunner* runner_;
  runner::StatementKiller* killer_;
  Executor* executor_;
  std::unique_ptr<runner::TransactionRunner::Interactive> txn_;
  TransactionRequest request_;
  TransactionResponse response_;
  bool ended_ = false;
};

}  // namespace

grpc::ServerUnaryReactor* DatabaseService::Execute(grpc::CallbackServerContext* context,
                                                   const txgate::v1::ExecuteRequest* request,
                                                   txgate::v1::ExecuteResponse* response) {
  auto* reactor = new UnaryCall(context, killer_);
  executor_->Submit([this, reactor, request, response] {
    absl::StatusOr<txgate::v1::ExecuteResponse> result = runner_->Execute(reactor->call(), *request);
    if (result.ok()) *response = std::move(*result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

grpc::ServerUnaryReactor* DatabaseService::RunTransaction(
    grpc::CallbackServerContext* context, const txgate::v1::RunTransactionRequest* request,
    txgate::v1::RunTransactionResponse* response) {
  auto* reactor = new UnaryCall(context, killer_);
  executor_->Submit([this, reactor, request, response] {
    absl::StatusOr<txgate::v1::RunTransactionResponse> result =
        runner_->RunTransaction(reactor->call(), *request);
    if (result.ok()) *response = std::move(*result);
    reactor->Finish(ToGrpcStatus(result.status()));
  });
  return reactor;
}

grpc::ServerWriteReactor<txgate::v1::StreamQueryResponse>* DatabaseService::StreamQuery(
    grpc::CallbackServerContext* context, const txgate::v1::StreamQueryRequest* request) {
  return new StreamQueryCall(context, request, runner_, killer_, executor_);
}

grpc::ServerBidiReactor<TransactionRequest, TransactionResponse>* DatabaseService::Transaction(
    grpc::CallbackServerContext* context) {
  return new TransactionCall(context, runner_, killer_, executor_);
}

}  // namespace txgate::service
