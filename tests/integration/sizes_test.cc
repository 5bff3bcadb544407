// Sizes measured on the wire, against the real MariaDB: values of 5 and
// 64 MiB stream through StreamQuery split across chunks (chunked_value) and
// come back byte for byte, every chunk within --max_result_bytes; without
// accept_chunked_values such a row is a clear RESULT_TOO_LARGE; unary
// results at 4 MiB +- 64 bytes and at --max_result_bytes +- 64 bytes
// (encoded) are the result or RESULT_TOO_LARGE, never a failure of the
// client's default 4 MiB receive limit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/runner/chunker.h"
#include "tests/support/test_env.h"

namespace txgate::testing {
namespace {

using ::testing::HasSubstr;
using txgate::v1::Row;
using txgate::v1::StreamQueryRequest;
using txgate::v1::StreamQueryResponse;
using txgate::v1::Value;

constexpr int64_t kClientLimit = int64_t{4} << 20;  // gRPC's default receive limit
const int64_t kServerLimit = runner::kDefaultMaxMessageBytes;

// Bytes with a prime period, so that a misplaced piece shows.
std::string Pattern() {
  std::string p(4093, '\0');
  for (size_t i = 0; i < p.size(); ++i) p[i] = static_cast<char>((i * 7919 + (i >> 3)) & 0xFF);
  return p;
}
// 1- to 4-byte UTF-8 characters: text is cut only between them.
const std::string kText = "ab\xE2\x82\xAC\xF0\x9F\x98\x80\xC3\xA9";

std::string Repeat(const std::string& s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// What one StreamQuery delivered: its chunks' sizes and its rows, joined.
struct Streamed {
  grpc::Status status;
  std::vector<Row> rows;
  std::vector<size_t> chunk_bytes;
  int chunked = 0;  // chunks with chunked_value
};

Streamed Stream(txgate::v1::DatabaseService::Stub& stub, const std::string& sql,
                std::vector<Value> params, bool accept_chunked) {
  StreamQueryRequest request;
  request.set_sql(sql);
  for (Value& v : params) *request.add_params() = std::move(v);
  request.set_accept_chunked_values(accept_chunked);
  auto ctx = WithDeadline(absl::Seconds(120));
  auto reader = stub.StreamQuery(ctx.get(), request);
  Streamed out;
  bool continued = false;
  StreamQueryResponse chunk;
  while (reader->Read(&chunk)) {
    out.chunk_bytes.push_back(chunk.ByteSizeLong());
    for (int i = 0; i < chunk.rows_size(); ++i) {
      Row* row = chunk.mutable_rows(i);
      if (i == 0 && continued) {
        Value* last = out.rows.back().mutable_values(out.rows.back().values_size() - 1);
        const Value& piece = row->values(0);
        EXPECT_EQ(piece.kind_case(), last->kind_case());
        if (piece.kind_case() == Value::kBytesValue) {
          last->mutable_bytes_value()->append(piece.bytes_value());
        } else {
          last->mutable_string_value()->append(piece.string_value());
        }
        for (int k = 1; k < row->values_size(); ++k) {
          *out.rows.back().add_values() = std::move(*row->mutable_values(k));
        }
      } else {
        out.rows.push_back(std::move(*row));
      }
    }
    continued = chunk.chunked_value();
    if (continued) ++out.chunked;
  }
  EXPECT_FALSE(continued) << "the stream ended inside a chunked value";
  out.status = reader->Finish();
  return out;
}

// MariaDB's max_allowed_packet raised to 128 MiB for values of 64 MiB
// (REPEAT's result and the row packet must fit it), before the server
// starts so that every pooled session has it; restored afterwards.
class SizesTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    saved_ = new std::string(Admin("SELECT @@GLOBAL.max_allowed_packet")[0][0]);
    Admin("SET GLOBAL max_allowed_packet = 134217728");
    server_ = new TestServer(DefaultServerOptions());
  }
  static void TearDownTestSuite() {
    delete server_;
    server_ = nullptr;
    Admin("SET GLOBAL max_allowed_packet = " + *saved_);
    delete saved_;
  }
  static txgate::v1::DatabaseService::Stub& stub() { return server_->stub(); }

  static std::string* saved_;
  static TestServer* server_;
};
std::string* SizesTest::saved_ = nullptr;
TestServer* SizesTest::server_ = nullptr;

TEST_F(SizesTest, ValuesOf5And64MiBStreamSplitAcrossChunksAndArriveByteForByte) {
  const size_t size = size_t{64} << 20;
  const std::string pattern = Pattern();
  const size_t reps = ((size_t{5} << 20) + kText.size() - 1) / kText.size();
  Streamed s =
      Stream(stub(), "SELECT 1, LEFT(REPEAT(?, ?), ?), 'after', REPEAT(?, ?), 2",
             {Bytes(pattern), Int(static_cast<int64_t>(size / pattern.size() + 1)),
              Int(static_cast<int64_t>(size)), Str(kText), Int(static_cast<int64_t>(reps))},
             /*accept_chunked=*/true);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ASSERT_EQ(s.rows.size(), 1u);
  const Row& row = s.rows[0];
  ASSERT_EQ(row.values_size(), 5);
  EXPECT_EQ(row.values(0).int64_value(), 1);
  EXPECT_EQ(row.values(2).string_value(), "after");
  EXPECT_EQ(row.values(4).int64_value(), 2);
  std::string want = Repeat(pattern, size / pattern.size() + 1);
  want.resize(size);
  ASSERT_EQ(row.values(1).bytes_value().size(), size);
  EXPECT_TRUE(row.values(1).bytes_value() == want) << "the 64 MiB value differs";
  EXPECT_TRUE(row.values(3).string_value() == Repeat(kText, reps)) << "the 5 MiB text differs";
  // (64 + 5) MiB in pieces that each fill a chunk of the 1 MiB target
  // (--stream_chunk_bytes), not the 4 MiB bound: a client takes each in a
  // time --stream_write_timeout allows even at a modest rate.
  EXPECT_GE(s.chunked, 68);
  for (size_t bytes : s.chunk_bytes) EXPECT_LE(bytes, size_t{1} << 20);
  EXPECT_GT(*std::max_element(s.chunk_bytes.begin(), s.chunk_bytes.end()), (size_t{1} << 20) - 64);

  // Several such rows, and small rows between them, on the same pool.
  s = Stream(stub(),
             "SELECT seq, IF(seq % 2 = 0, REPEAT(?, ?), 'small') FROM seq_1_to_5 ORDER BY seq",
             {Str(kText), Int(static_cast<int64_t>(reps))}, true);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  ASSERT_EQ(s.rows.size(), 5u);
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(s.rows[i].values(0).uint64_value(), static_cast<uint64_t>(i + 1));
    EXPECT_TRUE(s.rows[i].values(1).string_value() ==
                (i % 2 == 1 ? Repeat(kText, reps) : std::string("small")))
        << "row " << i + 1;
  }
  for (size_t bytes : s.chunk_bytes) EXPECT_LE(bytes, static_cast<size_t>(kServerLimit));
}

TEST_F(SizesTest, WithoutAcceptChunkedValuesARowOverOneMessageIsResultTooLarge) {
  Streamed s =
      Stream(stub(), "SELECT seq, IF(seq = 3, REPEAT('x', 5242880), 'small') FROM seq_1_to_5", {},
             /*accept_chunked=*/false);
  EXPECT_EQ(s.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
      << s.status.error_message();
  EXPECT_EQ(ErrorInfoOf(s.status).reason(), "RESULT_TOO_LARGE");
  EXPECT_EQ(ErrorInfoOf(s.status).metadata().at("limit"), "max_result_bytes");
  EXPECT_EQ(ErrorInfoOf(s.status).metadata().at("value"), absl::StrCat(kServerLimit));
  EXPECT_THAT(s.status.error_message(), HasSubstr("accept_chunked_values"));
  EXPECT_THAT(s.status.error_message(), HasSubstr("row 3: "));
  EXPECT_EQ(s.rows.size(), 0u);  // its chunk was not sent: no row in pieces
  // A row that fits is never split, with or without it.
  s = Stream(stub(), "SELECT REPEAT('x', 3145728)", {}, false);
  ASSERT_TRUE(s.status.ok()) << s.status.error_message();
  EXPECT_EQ(s.chunked, 0);
  EXPECT_EQ(s.rows.at(0).values(0).string_value().size(), 3145728u);
  EXPECT_TRUE(server_->AwaitPoolQuiet(absl::Seconds(10)));
}

// The bytes an answer to `SELECT REPEAT('x', n)` adds to n, by kind of
// answer, for n from 2 MiB to 256 MiB (where every length is a 4-byte
// varint): measured at n = 3 MiB on the message as received.
struct Overheads {
  int64_t execute = 0;
  int64_t run_transaction = 0;
  int64_t transaction = 0;
};

TEST_F(SizesTest, UnaryResultsAround4MiBAndTheBoundAreTheResultOrResultTooLarge) {
  const std::string sql = "SELECT REPEAT('x', ?) AS v";
  const int64_t n0 = int64_t{3} << 20;
  Overheads o;
  {
    txgate::v1::ExecuteResponse r;
    ASSERT_TRUE(Exec(stub(), sql, {Int(n0)}, &r).ok());
    o.execute = static_cast<int64_t>(r.ByteSizeLong()) - n0;
    txgate::v1::TransactionResponse t;
    *t.mutable_result() = r.result();
    o.transaction = static_cast<int64_t>(t.ByteSizeLong()) - n0;
    txgate::v1::RunTransactionResponse rt;
    *rt.add_results() = r.result();
    rt.set_attempts(1);
    o.run_transaction = static_cast<int64_t>(rt.ByteSizeLong()) - n0;
  }
  std::vector<int64_t> sizes;
  for (int64_t d : {-64, -1, 0, 1, 64}) {
    sizes.push_back(kClientLimit + d);
    sizes.push_back(kServerLimit + d);
  }
  for (int64_t encoded : sizes) {
    SCOPED_TRACE(absl::StrCat(encoded, " bytes encoded"));
    const bool fits = encoded <= kServerLimit;
    // Execute.
    txgate::v1::ExecuteResponse r;
    grpc::Status s = Exec(stub(), sql, {Int(encoded - o.execute)}, &r);
    if (fits) {
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(static_cast<int64_t>(r.ByteSizeLong()), encoded);
    } else {
      EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << s.error_message();
      EXPECT_EQ(ErrorInfoOf(s).reason(), "RESULT_TOO_LARGE") << s.error_message();
      EXPECT_THAT(s.error_message(), HasSubstr("StreamQuery"));
    }
    // RunTransaction.
    txgate::v1::RunTransactionRequest req;
    req.add_statements()->set_sql(sql);
    *req.mutable_statements(0)->add_params() = Int(encoded - o.run_transaction);
    txgate::v1::RunTransactionResponse rt;
    auto ctx = WithDeadline(absl::Seconds(30));
    s = stub().RunTransaction(ctx.get(), req, &rt);
    if (fits) {
      ASSERT_TRUE(s.ok()) << s.error_message();
      EXPECT_EQ(static_cast<int64_t>(rt.ByteSizeLong()), encoded);
    } else {
      EXPECT_EQ(ErrorInfoOf(s).reason(), "RESULT_TOO_LARGE") << s.error_message();
    }
    // A statement of a Transaction stream.
    auto tctx = WithDeadline(absl::Seconds(30));
    auto stream = stub().Transaction(tctx.get());
    txgate::v1::TransactionRequest treq;
    treq.mutable_statement()->set_sql(sql);
    *treq.mutable_statement()->add_params() = Int(encoded - o.transaction);
    txgate::v1::TransactionResponse tresp;
    ASSERT_TRUE(stream->Write(treq));
    const bool answered = stream->Read(&tresp);
    if (answered) {
      EXPECT_TRUE(fits);
      EXPECT_EQ(static_cast<int64_t>(tresp.ByteSizeLong()), encoded);
      stream->WritesDone();
      while (stream->Read(&tresp)) {
      }
      (void)stream->Finish();
    } else {
      s = stream->Finish();
      EXPECT_FALSE(fits);
      EXPECT_EQ(ErrorInfoOf(s).reason(), "RESULT_TOO_LARGE") << s.error_message();
    }
    // StreamQuery delivers it whatever its size, in pieces only when it
    // does not fit one chunk (beside its columns and scalars).
    Streamed st = Stream(stub(), sql, {Int(encoded - o.execute)}, true);
    ASSERT_TRUE(st.status.ok()) << st.status.error_message();
    if (encoded <= kServerLimit - 64) {
      EXPECT_EQ(st.chunked, 0);
    }
    if (encoded >= kServerLimit + 64) {
      EXPECT_GE(st.chunked, 3);  // in pieces of about 1 MiB
    }
    for (size_t bytes : st.chunk_bytes) EXPECT_LE(bytes, static_cast<size_t>(kServerLimit));
    ASSERT_EQ(st.rows.size(), 1u);
    EXPECT_EQ(static_cast<int64_t>(st.rows[0].values(0).string_value().size()),
              encoded - o.execute);
  }
}

}  // namespace
}  // namespace txgate::testing
