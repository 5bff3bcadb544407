// Read-your-writes tokens (README, "Reads on replicas") against a live txgate:
// the Client keeps the latest write's causality token and sends it, with its
// routing, on every read, stream and read-only transaction; a client
// interceptor records every request that went out.
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/client_interceptor.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "test_env.h"
#include "txgate/client.h"

namespace txgate::client {
namespace {

using ::testing::MatchesRegex;

// Every request message sent, serialized, with its method's last name.
struct Sent {
  absl::Mutex mu;
  std::vector<std::pair<std::string, std::string>> messages ABSL_GUARDED_BY(mu);

  template <typename T>
  T Last(const std::string& method) {
    absl::MutexLock lock(&mu);
    for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
      if (it->first == method) {
        T m;
        m.ParseFromString(it->second);
        return m;
      }
    }
    ADD_FAILURE() << "no " << method << " request was sent";
    return T();
  }
};

class Recorder : public grpc::experimental::Interceptor {
 public:
  Recorder(Sent* sent, std::string method) : sent_(sent), method_(std::move(method)) {}
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(
            grpc::experimental::InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      const auto* message =
          static_cast<const google::protobuf::Message*>(methods->GetSendMessage());
      if (message != nullptr) {
        absl::MutexLock lock(&sent_->mu);
        sent_->messages.emplace_back(method_, message->SerializeAsString());
      }
    }
    methods->Proceed();
  }

 private:
  Sent* sent_;
  std::string method_;
};

class RecorderFactory : public grpc::experimental::ClientInterceptorFactoryInterface {
 public:
  explicit RecorderFactory(Sent* sent) : sent_(sent) {}
  grpc::experimental::Interceptor* CreateClientInterceptor(
      grpc::experimental::ClientRpcInfo* info) override {
    std::string method = info->method();
    return new Recorder(sent_, method.substr(method.rfind('/') + 1));
  }

 private:
  Sent* sent_;
};

const char kToken[] = "g1:[0-9]+-[0-9]+-[0-9]+(,[0-9]+-[0-9]+-[0-9]+)*";

class CausalityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    TXGATE_REQUIRE_LIVE();
    Connect(Options());
  }

  void Connect(Options options) {
    std::vector<std::unique_ptr<grpc::experimental::ClientInterceptorFactoryInterface>> factories;
    factories.push_back(std::make_unique<RecorderFactory>(&sent_));
    auto channel = grpc::experimental::CreateCustomChannelWithInterceptors(
        testing::LiveAddr(), grpc::InsecureChannelCredentials(), Client::ChannelArgs(options),
        std::move(factories));
    db_ = std::make_unique<Client>(channel, options);
    ASSERT_TRUE(db_->Execute("CREATE TABLE IF NOT EXISTS cpp_causal "
                             "(id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT)")
                    .ok());
    db_->ClearCausalityToken();
  }

  Sent sent_;
  std::unique_ptr<Client> db_;
};

TEST_F(CausalityTest, AWriteTokenIsKeptAndSentWithTheNextReads) {
  ASSERT_TRUE(db_->Execute("SELECT 1").ok());
  EXPECT_EQ(sent_.Last<txgate::v1::ExecuteRequest>("Execute").read().causality_token(), "");
  ASSERT_TRUE(db_->Execute("INSERT INTO cpp_causal (v) VALUES (?)", {Value::Int(1)}).ok());
  const std::string token = db_->causality_token();
  EXPECT_THAT(token, MatchesRegex(kToken));

  ASSERT_TRUE(db_->Execute("SELECT COUNT(*) FROM cpp_causal").ok());
  EXPECT_EQ(sent_.Last<txgate::v1::ExecuteRequest>("Execute").read().causality_token(), token);
  TransactionOptions ro;
  ro.read_only = true;
  ASSERT_TRUE(db_->RunTransaction({Statement("SELECT 1")}, ro).ok());
  EXPECT_EQ(sent_.Last<txgate::v1::RunTransactionRequest>("RunTransaction")
                .options()
                .read()
                .causality_token(),
            token);
  ASSERT_TRUE(db_->StreamQuery("SELECT v FROM cpp_causal", {},
                               [](const txgate::v1::Row&) { return absl::OkStatus(); })
                  .ok());
  EXPECT_EQ(sent_.Last<txgate::v1::StreamQueryRequest>("StreamQuery").read().causality_token(),
            token);
  {
    auto tx = db_->BeginTransaction(ro);
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE((*tx)->Commit().ok());
  }
  // The Begin is the stream's first message.
  std::string begin_token;
  {
    absl::MutexLock lock(&sent_.mu);
    for (const auto& [method, bytes] : sent_.messages) {
      txgate::v1::TransactionRequest req;
      if (method == "Transaction" && req.ParseFromString(bytes) && req.has_begin()) {
        begin_token = req.begin().options().read().causality_token();
      }
    }
  }
  EXPECT_EQ(begin_token, token);
  EXPECT_EQ(db_->causality_token(), token);  // reads leave it
}

TEST_F(CausalityTest, EveryKindOfWriteMovesTheTokenOnAndARollbackLeavesIt) {
  ASSERT_TRUE(db_->Execute("INSERT INTO cpp_causal (v) VALUES (2)").ok());
  const std::string first = db_->causality_token();
  ASSERT_TRUE(db_->RunTransaction({Statement("INSERT INTO cpp_causal (v) VALUES (3)")}).ok());
  const std::string second = db_->causality_token();
  std::string third;
  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE((*tx)->Execute("INSERT INTO cpp_causal (v) VALUES (4)").ok());
    ASSERT_TRUE((*tx)->Commit().ok());
    third = (*tx)->causality_token();
  }
  EXPECT_THAT(third, MatchesRegex(kToken));
  EXPECT_EQ(db_->causality_token(), third);
  EXPECT_NE(first, second);
  EXPECT_NE(second, third);
  {
    auto tx = db_->BeginTransaction();
    ASSERT_TRUE(tx.ok()) << tx.status();
    ASSERT_TRUE((*tx)->Execute("INSERT INTO cpp_causal (v) VALUES (5)").ok());
    ASSERT_TRUE((*tx)->Rollback().ok());
  }
  EXPECT_EQ(db_->causality_token(), third);
}

TEST_F(CausalityTest, RoutingPerClientAndPerCall) {
  Options options;
  options.routing = txgate::v1::READ_ROUTING_REPLICA;
  Connect(options);
  ASSERT_TRUE(db_->Execute("SELECT 1").ok());
  EXPECT_EQ(sent_.Last<txgate::v1::ExecuteRequest>("Execute").read().routing(),
            txgate::v1::READ_ROUTING_REPLICA);
  ExecuteOptions primary;
  primary.routing = txgate::v1::READ_ROUTING_PRIMARY;
  ASSERT_TRUE(db_->ExecuteWith("SELECT 1", {}, primary).ok());
  EXPECT_EQ(sent_.Last<txgate::v1::ExecuteRequest>("Execute").read().routing(),
            txgate::v1::READ_ROUTING_PRIMARY);
}

}  // namespace
}  // namespace txgate::client
