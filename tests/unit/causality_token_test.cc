// Causality tokens (server/topology/causality.h): made from the server's GTID
// text, read back, and every token txgate could not have made refused with
// CAUSALITY_TOKEN_INVALID and a message that says what is wrong.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/sql/error.h"
#include "server/topology/causality.h"

namespace txgate::topology {
namespace {

TEST(CausalityTokenTest, MadeFromTheServersGtidList) {
  EXPECT_EQ(TokenFromGtidList("0-1-42"), "g1:0-1-42");
  EXPECT_EQ(TokenFromGtidList("0-1-42,1-2-7"), "g1:0-1-42,1-2-7");
  EXPECT_EQ(TokenFromGtidList(" 0-1-42 , 1-2-7 "), "g1:0-1-42,1-2-7");
  EXPECT_EQ(TokenFromGtidList("4294967295-4294967295-18446744073709551615"),
            "g1:4294967295-4294967295-18446744073709551615");
  // No binary log: no GTID, no token; nothing that is not a GTID list either.
  EXPECT_EQ(TokenFromGtidList(""), "");
  EXPECT_EQ(TokenFromGtidList("0-1"), "");
  EXPECT_EQ(TokenFromGtidList("a-b-c"), "");
}

TEST(CausalityTokenTest, ReadBackAsItWasMade) {
  absl::StatusOr<std::vector<Gtid>> gtids = ParseCausalityToken("g1:0-1-42,1-2-7");
  ASSERT_TRUE(gtids.ok()) << gtids.status();
  ASSERT_EQ(gtids->size(), 2u);
  EXPECT_EQ((*gtids)[0], (Gtid{0, 1, 42}));
  EXPECT_EQ((*gtids)[1], (Gtid{1, 2, 7}));
  EXPECT_EQ(GtidListOf(*gtids), "0-1-42,1-2-7");
  EXPECT_EQ(absl::StrCat("g1:", GtidListOf(*ParseCausalityToken(TokenFromGtidList("5-6-7")))),
            "g1:5-6-7");
}

TEST(CausalityTokenTest, WhatTxgateCouldNotHaveMadeIsRefusedSayingWhy) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "does not start with \"g1:\""},
      {"0-1-42", "does not start with \"g1:\""},
      {"g2:0-1-42", "does not start with \"g1:\""},
      {"G1:0-1-42", "does not start with \"g1:\""},
      {"g1:", "names no GTID"},
      {"g1:0-1", "entry 0 (\"0-1\") is not a GTID"},
      {"g1:0-1-42,", "entry 1 (\"\") is not a GTID"},
      {"g1:0-1-42-3", "entry 0"},
      {"g1: 0-1-42", "entry 0"},
      {"g1:-0-1-42", "entry 0"},
      {"g1:0-1-+42", "entry 0"},
      {"g1:0-4294967296-1", "domain and server below 2^32"},
      {"g1:0-1-18446744073709551616", "entry 0"},
      {"g1:0-1-2,1-1-2,0-1-3", "entry 2 repeats domain 0"},
  };
  for (const auto& [token, says] : bad) {
    SCOPED_TRACE(token);
    absl::StatusOr<std::vector<Gtid>> gtids = ParseCausalityToken(token);
    ASSERT_FALSE(gtids.ok());
    EXPECT_EQ(gtids.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(sql::GetReason(gtids.status()), "CAUSALITY_TOKEN_INVALID");
    EXPECT_THAT(gtids.status().message(), ::testing::HasSubstr(says));
    EXPECT_THAT(gtids.status().message(), ::testing::HasSubstr("read.causality_token"));
  }
  std::string many = "g1:";
  for (int d = 0; d < 65; ++d) absl::StrAppend(&many, d == 0 ? "" : ",", d, "-1-1");
  EXPECT_THAT(ParseCausalityToken(many).status().message(),
              ::testing::HasSubstr("more than 64 domains"));
}

}  // namespace
}  // namespace txgate::topology
