// Streams that cannot hold the database hostage, against the real MariaDB,
// with the official gRPC C++ client: a client that stops reading (a channel
// with a small HTTP/2 window and no BDP probing, so the server's write
// blocks as soon as the client stops calling Read) has its StreamQuery's
// statement killed and its connection released, or its Transaction rolled
// back and its row lock released, within the timeout + 1 s (the README's
// bound); a cancelled or expired StreamQuery sends KILL (Com_kill moves) and
// the next call is prompt; and after a chunk larger than the client's 4 MiB
// receive limit, the next call is prompt and SIGTERM ends the real process
// within --shutdown_grace.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <memory>
#include <optional>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "server/mysql/connection.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using ::testing::HasSubstr;
using txgate::v1::StreamQueryRequest;
using txgate::v1::StreamQueryResponse;
using txgate::v1::TransactionRequest;
using txgate::v1::TransactionResponse;

// Small, so that the suite stays fast; the bounds asserted are the README's.
constexpr absl::Duration kWriteTimeout = absl::Seconds(2);
constexpr absl::Duration kKillGrace = absl::Seconds(1);
constexpr absl::Duration kSlack = absl::Seconds(1);

// A query whose rows outlast any buffer, each row naming its session.
constexpr char kLongQuery[] =
    "SELECT CONNECTION_ID() AS session, seq, REPEAT('x', 1000) AS pad FROM seq_1_to_2000000";

service::ServerOptions StreamOptions() {
  service::ServerOptions o = DefaultServerOptions();
  o.pool.max_size = 4;
  o.service.stream_write_timeout = kWriteTimeout;
  o.kill_grace = kKillGrace;
  return o;
}

// A channel whose streams read little ahead of the application: no BDP
// probing and a 64 KiB stream window, so a stream the application stops
// reading stops the server's writes at once.
std::unique_ptr<txgate::v1::DatabaseService::Stub> SmallWindowStub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 << 10);
  // Its own connection, not one shared with the test's other calls.
  args.SetString("txgate.test.channel", "small-window");
  return txgate::v1::DatabaseService::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

int64_t ComKill() {
  int64_t n = -1;
  const auto rows = Admin("SHOW GLOBAL STATUS LIKE 'Com_kill'");
  if (rows.empty() || !absl::SimpleAtoi(rows[0][1], &n)) ADD_FAILURE() << "no Com_kill";
  return n;
}

std::string AsText(const txgate::v1::Value& v) {
  if (v.kind_case() == txgate::v1::Value::kUint64Value) return absl::StrCat(v.uint64_value());
  return absl::StrCat(v.int64_value());
}

bool SessionGone(const std::string& id) {
  return Admin("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = " + id)[0][0] == "0";
}

// Reads the first chunk of kLongQuery; returns the session it runs on.
std::string FirstChunk(txgate::v1::DatabaseService::Stub& stub, grpc::ClientContext* ctx,
                       std::unique_ptr<grpc::ClientReader<StreamQueryResponse>>* reader) {
  StreamQueryRequest req;
  req.set_sql(kLongQuery);
  req.set_max_rows_per_chunk(100);
  *reader = stub.StreamQuery(ctx, req);
  StreamQueryResponse chunk;
  if (!(*reader)->Read(&chunk) || chunk.rows_size() == 0) {
    ADD_FAILURE() << "no first chunk";
    return "0";
  }
  return AsText(chunk.rows(0).values(0));
}

class StreamTest : public ::testing::Test {
 protected:
  void TearDown() override { EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10))); }

  // The pool has nothing in use, and `session` is gone from the server.
  bool Released(const std::string& session) {
    return server_->server().pool_stats().in_use == 0 && SessionGone(session);
  }

  // A next call on the pool, answered within `within` (a deadline).
  void ExpectPromptCall(absl::Duration within = absl::Seconds(1)) {
    txgate::v1::ExecuteResponse r;
    const grpc::Status s = Exec(server_->stub(), "SELECT 1", {}, &r, within);
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  }

  std::unique_ptr<TestServer> server_ = std::make_unique<TestServer>(StreamOptions());
};

TEST_F(StreamTest, AStreamQueryWhoseClientStopsReadingIsEndedItsQueryKilledItsConnectionClosed) {
  auto stub = SmallWindowStub(server_->address());
  const int64_t kills = ComKill();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<grpc::ClientReader<StreamQueryResponse>> reader;
  const std::string session = FirstChunk(*stub, &ctx, &reader);
  const absl::Time stopped = absl::Now();  // the client reads no more for now
  EXPECT_TRUE(Eventually([&] { return Released(session); },
                         stopped + kWriteTimeout + kSlack - absl::Now()));
  EXPECT_GT(ComKill(), kills);
  ExpectPromptCall();
  // Reading again, the client gets what was written, then why it ended.
  StreamQueryResponse chunk;
  int64_t rows = 0;
  while (reader->Read(&chunk)) rows += chunk.rows_size();
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "STREAM_WRITE_TIMEOUT");
  EXPECT_THAT(s.error_message(), HasSubstr("--stream_write_timeout (2s"));
  EXPECT_LT(rows, 2000000);
  EXPECT_EQ(server_->server().database().write_timeouts(), 1);
}

// The rows a stalled stream's message says the client took are whole rows:
// pieces of one row split across chunks are not counted as rows.
TEST_F(StreamTest, AStalledStreamCountsARowSplitAcrossChunksOnce) {
  auto stub = SmallWindowStub(server_->address());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  StreamQueryRequest req;
  req.set_sql("SELECT seq, REPEAT('x', 6 * 1024 * 1024) FROM seq_1_to_3");
  req.set_accept_chunked_values(true);
  auto reader = stub->StreamQuery(&ctx, req);
  StreamQueryResponse chunk;
  ASSERT_TRUE(reader->Read(&chunk));  // a piece of the first row; then no more for now
  ASSERT_TRUE(chunk.chunked_value());
  ASSERT_TRUE(Eventually([&] { return server_->server().database().write_timeouts() == 1; },
                         kWriteTimeout + kSlack));
  while (reader->Read(&chunk)) {
  }
  const grpc::Status s = reader->Finish();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "STREAM_WRITE_TIMEOUT") << s.error_message();
  EXPECT_THAT(s.error_message(), HasSubstr("had taken 0 rows"));
}

// Its status is not taken either: the stream is reset, freeing its slot.
TEST_F(StreamTest, AStalledStreamWhoseClientNeverReadsAgainIsResetAndItsSlotFreed) {
  auto stub = SmallWindowStub(server_->address());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<grpc::ClientReader<StreamQueryResponse>> reader;
  const std::string session = FirstChunk(*stub, &ctx, &reader);
  const absl::Time stopped = absl::Now();
  EXPECT_EQ(server_->server().database().open_streams(), 1);
  EXPECT_TRUE(Eventually([&] { return server_->server().database().open_streams() == 0; },
                         stopped + 2 * kWriteTimeout + kSlack - absl::Now()));
  EXPECT_TRUE(Released(session));
  StreamQueryResponse chunk;
  while (reader->Read(&chunk)) {
  }
  EXPECT_FALSE(reader->Finish().ok());
}

TEST_F(StreamTest, ATransactionBlockedWritingToAClientThatStoppedReadingIsRolledBack) {
  Admin("CREATE TABLE IF NOT EXISTS txgate.stream_locks (id INT PRIMARY KEY, v INT)");
  Admin("REPLACE INTO txgate.stream_locks VALUES (1, 0)");
  auto row_free = [] {
    return AdminQuery("SELECT v FROM txgate.stream_locks WHERE id = 1 FOR UPDATE NOWAIT").ok();
  };
  auto stub = SmallWindowStub(server_->address());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = stub->Transaction(&ctx);
  TransactionRequest lock;
  lock.mutable_statement()->set_sql("SELECT v FROM stream_locks WHERE id = 1 FOR UPDATE");
  TransactionResponse resp;
  ASSERT_TRUE(stream->Write(lock));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_TRUE(resp.has_result());
  EXPECT_FALSE(row_free());
  // A 3 MB result, which the client does not read.
  TransactionRequest big;
  big.mutable_statement()->set_sql("SELECT REPEAT('x', 3000000)");
  ASSERT_TRUE(stream->Write(big));
  const absl::Time sent = absl::Now();
  EXPECT_TRUE(Eventually([&] { return row_free() && server_->server().pool_stats().in_use == 0; },
                         sent + kWriteTimeout + kSlack - absl::Now()));
  ExpectPromptCall();
  ASSERT_TRUE(stream->Read(&resp));  // the result written before the end
  EXPECT_EQ(resp.result().rows(0).values(0).string_value().size(), 3000000u);
  EXPECT_FALSE(stream->Read(&resp));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "STREAM_WRITE_TIMEOUT");
  EXPECT_THAT(s.error_message(), HasSubstr("rolled back after 2 statements"));
}

// An interactive transaction ended by a timeout while the database is hung
// (mariadbd stopped): no ROLLBACK round trip holds its connection — the
// pool lets it go within the timeout + 1 s — and once the database runs
// again it has rolled back and freed the row. (The write-stall timeout and
// the drain end a transaction the same way.)
TEST(HungStreamTest, AnIdleTransactionOnAHungDatabaseLetsItsConnectionGo) {
  Admin("CREATE TABLE IF NOT EXISTS txgate.stream_locks (id INT PRIMARY KEY, v INT)");
  Admin("REPLACE INTO txgate.stream_locks VALUES (1, 0)");
  service::ServerOptions o = StreamOptions();
  o.service.transaction_idle_timeout = kWriteTimeout;
  TestServer server(o);
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = server.stub().Transaction(&ctx);
  TransactionRequest lock;
  lock.mutable_statement()->set_sql("SELECT v FROM stream_locks WHERE id = 1 FOR UPDATE");
  TransactionResponse resp;
  ASSERT_TRUE(stream->Write(lock));
  ASSERT_TRUE(stream->Read(&resp));
  ASSERT_EQ(server.server().pool_stats().in_use, 1);
  {
    MariadbStall stall;
    ASSERT_TRUE(stall.stopped());
    const absl::Time stopped = absl::Now();
    EXPECT_TRUE(Eventually([&] { return server.server().pool_stats().in_use == 0; },
                           stopped + kWriteTimeout + kSlack - absl::Now()));
    EXPECT_FALSE(stream->Read(&resp));
    const grpc::Status s = stream->Finish();
    EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_IDLE_TIMEOUT") << s.error_message();
  }
  EXPECT_TRUE(Eventually(
      [] {
        return AdminQuery("SELECT v FROM txgate.stream_locks WHERE id = 1 FOR UPDATE NOWAIT").ok();
      },
      absl::Seconds(10)));
}

// --transaction_idle_timeout counts the time blocked writing too.
TEST_F(StreamTest, TheIdleTimeoutCoversATransactionBlockedWriting) {
  service::ServerOptions o = StreamOptions();
  o.service.stream_write_timeout = absl::Seconds(60);
  o.service.transaction_idle_timeout = absl::Seconds(2);
  server_.reset();
  server_ = std::make_unique<TestServer>(o);
  Admin("CREATE TABLE IF NOT EXISTS txgate.stream_locks (id INT PRIMARY KEY, v INT)");
  Admin("REPLACE INTO txgate.stream_locks VALUES (2, 0)");
  auto row_free = [] {
    return AdminQuery("SELECT v FROM txgate.stream_locks WHERE id = 2 FOR UPDATE NOWAIT").ok();
  };
  auto stub = SmallWindowStub(server_->address());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto stream = stub->Transaction(&ctx);
  TransactionRequest lock;
  lock.mutable_statement()->set_sql(
      "SELECT v, REPEAT('x', 3000000) FROM stream_locks WHERE id = 2 FOR UPDATE");
  ASSERT_TRUE(stream->Write(lock));
  const absl::Time sent = absl::Now();
  EXPECT_TRUE(Eventually([&] { return row_free() && server_->server().pool_stats().in_use == 0; },
                         sent + o.service.transaction_idle_timeout + kSlack - absl::Now()));
  TransactionResponse resp;
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_FALSE(stream->Read(&resp));
  const grpc::Status s = stream->Finish();
  EXPECT_EQ(s.error_code(), grpc::StatusCode::ABORTED) << s.error_message();
  EXPECT_EQ(ErrorInfoOf(s).reason(), "TRANSACTION_IDLE_TIMEOUT");
  EXPECT_THAT(s.error_message(), HasSubstr("its last response was still not taken"));
}

TEST_F(StreamTest, ACancelledStreamQueryKillsItsQueryAndTheNextCallIsPrompt) {
  auto stub = SmallWindowStub(server_->address());
  const int64_t kills = ComKill();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  std::unique_ptr<grpc::ClientReader<StreamQueryResponse>> reader;
  const std::string session = FirstChunk(*stub, &ctx, &reader);
  const absl::Time cancelled = absl::Now();
  ctx.TryCancel();
  EXPECT_TRUE(Eventually([&] { return ComKill() > kills && Released(session); },
                         cancelled + kKillGrace + kSlack - absl::Now()));
  ExpectPromptCall();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(StreamTest, AnExpiredStreamQueryKillsItsQueryAndTheNextCallIsPrompt) {
  auto stub = SmallWindowStub(server_->address());
  const int64_t kills = ComKill();
  const absl::Duration deadline = absl::Seconds(1);  // before the write timeout
  grpc::ClientContext ctx;
  const absl::Time start = absl::Now();
  ctx.set_deadline(absl::ToChronoTime(start + deadline));
  std::unique_ptr<grpc::ClientReader<StreamQueryResponse>> reader;
  const std::string session = FirstChunk(*stub, &ctx, &reader);
  EXPECT_TRUE(Eventually([&] { return ComKill() > kills && Released(session); },
                         start + deadline + kKillGrace + kSlack - absl::Now()));
  ExpectPromptCall();
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
}

// Closing never blocks: a connection destroyed in the middle of a result,
// while the server is stopped (SIGSTOP) and unread rows wait in the socket,
// is closed without reading them (Connector/C's mysql_stmt_close would
// read the rest, then wait --mysql_read_timeout for more).
TEST(ConnectionCloseTest, AConnectionDestroyedMidResultOnAStoppedServerClosesAtOnce) {
  mysql::ConnectOptions o = DefaultServerOptions().mysql;
  o.read_timeout = absl::Seconds(30);
  absl::StatusOr<std::unique_ptr<mysql::Connection>> conn =
      mysql::Connection::Open(o, absl::Seconds(5));
  ASSERT_TRUE(conn.ok()) << conn.status();
  ASSERT_TRUE(
      (*conn)->Start("SELECT seq, REPEAT('x', 1000) FROM seq_1_to_10000000", db::Params()).ok());
  txgate::v1::Row row;
  size_t bytes = 0;
  absl::StatusOr<bool> first = (*conn)->Next(&row, &bytes);
  ASSERT_TRUE(first.ok() && *first);
  EXPECT_TRUE((*conn)->pending_result());
  MariadbStall stall;
  ASSERT_TRUE(stall.stopped());
  const absl::Time start = absl::Now();
  conn->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

// The real process: a chunk holding one row of a 5 MiB value goes beyond
// the client's default 4 MiB receive limit (or, where values are split
// across chunks, arrives whole); either way the next call is answered
// promptly and SIGTERM ends the process within --shutdown_grace.
TEST(StreamShutdownTest, AfterAChunkOverTheClientsLimitTheNextCallIsPromptAndSigtermIsInTime) {
  const absl::Duration grace = absl::Seconds(3);
  TxgateProcess txgate({absl::StrCat("--shutdown_grace=", absl::FormatDuration(grace)),
                        "--pool_max_size=1", "--pool_min_idle=1", "--kill_grace=1s"});
  ASSERT_TRUE(txgate.running());
  StreamQueryRequest req;
  req.set_sql("SELECT seq, REPEAT('x', 5 * 1024 * 1024) AS big FROM seq_1_to_20");
  {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    auto reader = txgate.stub().StreamQuery(&ctx, req);
    StreamQueryResponse chunk;
    while (reader->Read(&chunk)) {
    }
    const grpc::Status s = reader->Finish();
    if (!s.ok()) {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
    }
  }
  // The pool's one connection (the stream's, or a new one) serves the next calls.
  for (int i = 0; i < 3; ++i) {
    const grpc::Status s = Exec(txgate.stub(), "SELECT 1", {}, nullptr, absl::Seconds(2));
    EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  }
  ASSERT_TRUE(txgate.Signal(SIGTERM));
  const std::optional<int> status = txgate.WaitExit(grace + kSlack);
  ASSERT_TRUE(status.has_value()) << "still running " << grace + kSlack << " after SIGTERM";
  EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
}

// SIGTERM with an interactive transaction open on a hung database: the
// drain gives the transaction up without a ROLLBACK round trip, and the
// process exits within --shutdown_grace.
TEST(StreamShutdownTest, AnOpenTransactionOnAHungDatabaseDoesNotHoldSigterm) {
  const absl::Duration grace = absl::Seconds(3);
  Admin("CREATE TABLE IF NOT EXISTS txgate.stream_locks (id INT PRIMARY KEY, v INT)");
  Admin("REPLACE INTO txgate.stream_locks VALUES (1, 0)");
  TxgateProcess txgate(
      {absl::StrCat("--shutdown_grace=", absl::FormatDuration(grace)), "--kill_grace=1s"});
  ASSERT_TRUE(txgate.running());
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  auto stream = txgate.stub().Transaction(&ctx);
  TransactionRequest lock;
  lock.mutable_statement()->set_sql("SELECT v FROM stream_locks WHERE id = 1 FOR UPDATE");
  TransactionResponse resp;
  ASSERT_TRUE(stream->Write(lock));
  ASSERT_TRUE(stream->Read(&resp));
  {
    MariadbStall stall;
    ASSERT_TRUE(stall.stopped());
    ASSERT_TRUE(txgate.Signal(SIGTERM));
    const std::optional<int> status = txgate.WaitExit(grace + kSlack);
    EXPECT_TRUE(status.has_value()) << "still running " << grace + kSlack << " after SIGTERM";
  }
  ctx.TryCancel();
  (void)stream->Finish();
}

}  // namespace
}  // namespace txgate::testing
