// Chunker: StreamQuery chunks stay within their encoded bound, rows that
// fit are never split, and rows that do not are split so that the client's
// reassembly (StreamQueryResponse.chunked_value) gives them back byte for
// byte, with every piece of text valid UTF-8.
#include "server/runner/chunker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "server/sql/error.h"

namespace txgate::runner {
namespace {

using txgate::v1::Row;
using txgate::v1::StreamQueryResponse;
using txgate::v1::Value;

Value Text(std::string s) {
  Value v;
  v.set_string_value(std::move(s));
  return v;
}
Value Blob(std::string s) {
  Value v;
  v.set_bytes_value(std::move(s));
  return v;
}
Value Json(std::string s) {
  Value v;
  v.set_json_value(std::move(s));
  return v;
}
Value Int(int64_t i) {
  Value v;
  v.set_int64_value(i);
  return v;
}
Value When() {
  Value v;
  auto* d = v.mutable_datetime_value();
  d->set_year(2024);
  d->set_month(12);
  d->set_day(31);
  d->set_hour(23);
  d->set_minute(59);
  d->set_second(59);
  d->set_microsecond(999999);
  return v;
}
Row RowOf(std::vector<Value> values) {
  Row r;
  for (Value& v : values) *r.add_values() = std::move(v);
  return r;
}

// Deterministic bytes that do not repeat within a piece.
std::string Noise(size_t n, uint32_t seed) {
  std::mt19937 gen(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(gen() & 0xFF);
  return s;
}

// Valid UTF-8 text of about `n` bytes mixing 1- to 4-byte characters.
std::string Utf8(size_t n) {
  static const char* const kChars[] = {"a", "\xC3\xA9", "\xE2\x82\xAC", "\xF0\x9F\x98\x80", "z"};
  std::string s;
  for (size_t i = 0; s.size() < n; ++i) s += kChars[(i * 7 + i / 3) % 5];
  return s;
}

bool ValidUtf8(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    const size_t len = c < 0x80         ? 1
                       : (c >> 5) == 6  ? 2
                       : (c >> 4) == 14 ? 3
                       : (c >> 3) == 30 ? 4
                                        : 0;
    if (len == 0 || i + len > s.size()) return false;
    for (size_t k = 1; k < len; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    }
    i += len;
  }
  return true;
}

// Drives the chunker as QueryStream::NextChunk does; the first chunk
// carries a column.
absl::Status Stream(ChunkLimits limits, std::vector<Row> rows,
                    std::vector<StreamQueryResponse>* chunks) {
  Chunker chunker(limits);
  size_t next = 0;
  for (;;) {
    StreamQueryResponse chunk;
    if (chunks->empty()) chunk.add_columns()->set_name("c");
    if (absl::Status s = chunker.Begin(&chunk); !s.ok()) return s;
    while (chunker.Room()) {
      if (next == rows.size()) {
        chunk.set_done(true);
        chunk.set_warning_count(0xFFFFFFFF);  // the largest it can be
        break;
      }
      if (absl::Status s = chunker.Add(std::move(rows[next++])); !s.ok()) return s;
    }
    chunks->push_back(std::move(chunk));
    if (chunks->back().done()) return absl::OkStatus();
    if (chunks->size() > 100000) return absl::InternalError("no end");
  }
}

// What a client helper does with the chunks.
std::vector<Row> Reassemble(const std::vector<StreamQueryResponse>& chunks) {
  std::vector<Row> rows;
  bool continued = false;
  for (const StreamQueryResponse& chunk : chunks) {
    for (int i = 0; i < chunk.rows_size(); ++i) {
      const Row& r = chunk.rows(i);
      if (i == 0 && continued) {
        EXPECT_GT(r.values_size(), 0);
        Value* last = rows.back().mutable_values(rows.back().values_size() - 1);
        const Value& piece = r.values(0);
        EXPECT_EQ(piece.kind_case(), last->kind_case());
        switch (piece.kind_case()) {
          case Value::kStringValue:
            last->mutable_string_value()->append(piece.string_value());
            break;
          case Value::kBytesValue:
            last->mutable_bytes_value()->append(piece.bytes_value());
            break;
          case Value::kJsonValue:
            last->mutable_json_value()->append(piece.json_value());
            break;
          default:
            ADD_FAILURE() << "a piece of a non-text value";
        }
        for (int k = 1; k < r.values_size(); ++k) *rows.back().add_values() = r.values(k);
      } else {
        rows.push_back(r);
      }
    }
    continued = chunk.chunked_value();
  }
  EXPECT_FALSE(continued);
  return rows;
}

// Every chunk within the bound; text pieces valid UTF-8; chunked_value
// only on chunks with rows and never with done.
void ExpectWellFormed(const std::vector<StreamQueryResponse>& chunks, int64_t max_bytes) {
  for (size_t i = 0; i < chunks.size(); ++i) {
    const StreamQueryResponse& c = chunks[i];
    EXPECT_LE(c.ByteSizeLong(), static_cast<size_t>(max_bytes)) << "chunk " << i;
    if (c.chunked_value()) {
      EXPECT_GT(c.rows_size(), 0) << "chunk " << i;
      EXPECT_FALSE(c.done()) << "chunk " << i;
    }
    for (const Row& r : c.rows()) {
      for (const Value& v : r.values()) {
        if (v.kind_case() == Value::kStringValue) {
          EXPECT_TRUE(ValidUtf8(v.string_value()));
        }
        if (v.kind_case() == Value::kJsonValue) {
          EXPECT_TRUE(ValidUtf8(v.json_value()));
        }
      }
    }
  }
}

void ExpectSameRows(const std::vector<Row>& got, const std::vector<Row>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    // Compared serialized: byte-exact, without printing megabytes.
    EXPECT_TRUE(got[i].SerializeAsString() == want[i].SerializeAsString()) << "row " << i;
  }
}

TEST(ChunkerTest, SmallRowsCloseChunksByRowsAndBytesAndAreNeverSplit) {
  std::vector<Row> rows;
  for (int i = 0; i < 2500; ++i) rows.push_back(RowOf({Int(i), Text(std::string(100, 'x'))}));
  ChunkLimits limits;
  limits.max_rows = 1000;
  std::vector<StreamQueryResponse> chunks;
  ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].rows_size(), 1000);
  EXPECT_EQ(chunks[2].rows_size(), 500);
  for (const auto& c : chunks) EXPECT_FALSE(c.chunked_value());
  ExpectSameRows(Reassemble(chunks), rows);

  limits.max_rows = 100000;
  limits.target_bytes = 10 << 10;
  chunks.clear();
  ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    // Closed once its size (with room for the scalar fields) reached it.
    EXPECT_GE(chunks[i].ByteSizeLong() + 16, 10u << 10);
    EXPECT_LT(chunks[i].ByteSizeLong(), (10u << 10) + 200);  // one row past the target at most
  }
  ExpectSameRows(Reassemble(chunks), rows);
}

TEST(ChunkerTest, ARowThatFitsAloneWaitsWholeForItsOwnChunk) {
  ChunkLimits limits;
  limits.max_bytes = 64 << 10;
  limits.target_bytes = 48 << 10;
  std::vector<Row> rows = {RowOf({Blob(std::string(40 << 10, 'a'))}),
                           RowOf({Blob(std::string(60 << 10, 'b'))}),
                           RowOf({Blob(std::string(10, 'c'))})};
  for (bool split : {false, true}) {
    limits.split_values = split;
    std::vector<StreamQueryResponse> chunks;
    ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
    // 40 KiB; then 60 KiB alone (not beside the 40, not split); then 10 bytes.
    ASSERT_EQ(chunks.size(), 3u);
    for (const auto& c : chunks) {
      EXPECT_EQ(c.rows_size(), 1);
      EXPECT_FALSE(c.chunked_value());
    }
    ExpectWellFormed(chunks, limits.max_bytes);
    ExpectSameRows(Reassemble(chunks), rows);
  }
}

TEST(ChunkerTest, ARowOverTheBoundIsRefusedUnlessValuesMaySplit) {
  ChunkLimits limits;
  limits.max_bytes = 64 << 10;
  std::vector<StreamQueryResponse> chunks;
  absl::Status s =
      Stream(limits, {RowOf({Int(1)}), RowOf({Blob(std::string(65 << 10, 'x'))})}, &chunks);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(sql::GetReason(s), "RESULT_TOO_LARGE");
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("accept_chunked_values"));
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("--max_result_bytes=65536"));
}

TEST(ChunkerTest, AFiveMiBValueIsSplitWithinTheDefaultBoundAndReassembledExactly) {
  ChunkLimits limits;
  limits.split_values = true;
  std::vector<Row> rows = {RowOf({Int(1), Blob(Noise(5 << 20, 1)), Text("after")}),
                           RowOf({Int(2), Blob("small")})};
  std::vector<StreamQueryResponse> chunks;
  ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
  ExpectWellFormed(chunks, kDefaultMaxMessageBytes);
  EXPECT_LE(kDefaultMaxMessageBytes, 4 << 20);
  // The row that fits no message is cut into pieces that fill the 1 MiB
  // target (not the 4 MiB bound: a client must take each within
  // --stream_write_timeout): five continued chunks, then the rest of the
  // row, then the last row.
  ASSERT_GE(chunks.size(), 6u);
  ASSERT_LE(chunks.size(), 7u);
  for (size_t i = 0; i < 5; ++i) {
    EXPECT_TRUE(chunks[i].chunked_value()) << i;
    EXPECT_GT(chunks[i].ByteSizeLong(), static_cast<size_t>(limits.target_bytes) - 32) << i;
    EXPECT_LE(chunks[i].ByteSizeLong(), static_cast<size_t>(limits.target_bytes)) << i;
  }
  EXPECT_FALSE(chunks.back().chunked_value());
  ExpectSameRows(Reassemble(chunks), rows);
}

TEST(ChunkerTest, TextIsCutBetweenUtf8CharactersOnly) {
  ChunkLimits limits;
  limits.split_values = true;
  limits.max_bytes = 4 << 10;
  for (size_t n : {size_t{5000}, size_t{20011}, size_t{100003}}) {
    std::vector<Row> rows = {RowOf({Text(Utf8(n)), Json("[\"" + Utf8(n / 2) + "\"]")})};
    std::vector<StreamQueryResponse> chunks;
    ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
    EXPECT_GE(chunks.size(), 2u);
    ExpectWellFormed(chunks, limits.max_bytes);
    ExpectSameRows(Reassemble(chunks), rows);
  }
}

TEST(ChunkerTest, EveryCutPointAroundTheBoundReassembles) {
  // Text values ending at each byte around a chunk's end, followed by
  // scalars, text and bytes: whichever value crosses the bound, and also a
  // scalar that no longer fits after a text value (continued by an empty
  // piece).
  ChunkLimits limits;
  limits.split_values = true;
  limits.max_bytes = 4 << 10;
  for (size_t n = 3900; n <= 4200; ++n) {
    std::vector<Row> rows = {RowOf({Int(7), Text(Utf8(n)), When(), Int(-1), Blob(Noise(n, n))}),
                             RowOf({Text(Utf8(n / 3)), When()})};
    std::vector<StreamQueryResponse> chunks;
    absl::Status s = Stream(limits, rows, &chunks);
    ASSERT_TRUE(s.ok()) << n << ": " << s;
    ExpectWellFormed(chunks, limits.max_bytes);
    ExpectSameRows(Reassemble(chunks), rows);
    if (::testing::Test::HasFailure()) FAIL() << "text of " << n << " bytes";
  }
}

TEST(ChunkerTest, ManyLargeValuesInOneRowAndRowCountsAcrossSplits) {
  ChunkLimits limits;
  limits.split_values = true;
  limits.max_bytes = 64 << 10;
  limits.max_rows = 3;
  std::vector<Row> rows;
  for (int i = 0; i < 10; ++i) {
    rows.push_back(RowOf({Blob(Noise(100 << 10, i)), Text(Utf8(30 << 10)), Int(i)}));
    rows.push_back(RowOf({Int(i)}));
  }
  std::vector<StreamQueryResponse> chunks;
  ASSERT_TRUE(Stream(limits, rows, &chunks).ok());
  ExpectWellFormed(chunks, limits.max_bytes);
  for (const auto& c : chunks) EXPECT_LE(c.rows_size(), 3);
  ExpectSameRows(Reassemble(chunks), rows);
}

}  // namespace
}  // namespace txgate::runner
