// DatabaseService: the gRPC handlers of txgate.v1.DatabaseService.
//
// Handlers are thin callback reactors: they decode nothing themselves, hand
// the request to the TransactionRunner on the blocking Executor (never on
// gRPC's threads), and translate the outcome with ToGrpcStatus. OnCancel (a
// cancelled call or a passed deadline) asks the StatementKiller to stop the
// running statement. Leases are only ever returned on executor threads.
#ifndef TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
#define TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_

#include "server/common/executor.h"
#include "server/runner/statement_killer.h"
#include "server/runner/transaction_runner.h"
#include "txgate/v1/database.grpc.pb.h"

namespace txgate::service {

class DatabaseService final : public txgate::v1::DatabaseService::CallbackService {
 public:
  DatabaseService(runner::TransactionRunner* runner, runner::StatementKiller* killer,
                  Executor* executor)
      : runner_(runner), killer_(killer), executor_(executor) {}

  grpc::ServerUnaryReactor* Execute(grpc::CallbackServerContext* context,
                                    const txgate::v1::ExecuteRequest* request,
                                    txgate::v1::ExecuteResponse* response) override;

  grpc::ServerUnaryReactor* RunTransaction(grpc::CallbackServerContext* context,
                                           const txgate::v1::RunTransactionRequest* request,
                                           txgate::v1::RunTransactionResponse* response) override;

  grpc::ServerWriteReactor<txgate::v1::StreamQueryResponse>* StreamQuery(
      grpc::CallbackServerContext* context,
      const txgate::v1::StreamQueryRequest* request) override;

  grpc::ServerBidiReactor<txgate::v1::TransactionRequest, txgate::v1::TransactionResponse>*
  Transaction(grpc::CallbackServerContext* context) override;

 private:
  runner::TransactionRunner* runner_;
  runner::StatementKiller* killer_;
  Executor* executor_;
};

}  // namespace txgate::service

#endif  // TXGATE_SERVER_SERVICE_DATABASE_SERVICE_H_
