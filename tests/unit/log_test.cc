// The JSON log line's formatting and levels (server/common/log.h) and the
// W3C traceparent parser (server/common/traceparent.h).
#include "server/common/log.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "server/common/traceparent.h"

namespace txgate {
namespace {

const absl::Time kWhen = absl::FromUnixMillis(1764451200123);  // 2025-11-29T21:20:00.123Z

TEST(FormatLogLineTest, NumbersAreJsonNumbersAndStringsAreEscaped) {
  const std::string line =
      FormatLogLine(kWhen, "info", "rpc",
                    {{"method", "Execute"},
                     {"duration_ms", LogValue::Millis(absl::Microseconds(305))},
                     {"mysql_errno", 1062u},
                     {"sql_bytes", size_t{31}},
                     {"port", -1},
                     {"note", "a \"quoted\"\\path\nline\ttab\x01"}});
  EXPECT_EQ(line,
            "{\"ts\":\"2025-11-29T21:20:00.123+00:00\",\"level\":\"info\",\"msg\":\"rpc\","
            "\"method\":\"Execute\",\"duration_ms\":0.305,\"mysql_errno\":1062,"
            "\"sql_bytes\":31,\"port\":-1,"
            "\"note\":\"a \\\"quoted\\\"\\\\path\\nline\\ttab\\u0001\"}\n");
}

TEST(FormatLogLineTest, NonFiniteNumbersAreNull) {
  EXPECT_THAT(FormatLogLine(kWhen, "info", "x",
                            {{"v", LogValue::Number(std::numeric_limits<double>::infinity(), 3)},
                             {"w", LogValue::Number(std::nan(""), 3)}}),
              ::testing::HasSubstr(R"("v":null,"w":null})"));
}

TEST(FormatLogLineTest, InvalidUtf8BecomesReplacementCharacters) {
  // Valid two-, three- and four-byte sequences pass; a lone continuation
  // byte, an overlong form, a surrogate and a truncated sequence do not.
  const std::string line = FormatLogLine(kWhen, "info", "x",
                                         {{"ok", "\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"},
                                          {"bad",
                                           "a\x80"
                                           "b\xc0\xaf\xed\xa0\x80\xe2\x82"}});
  EXPECT_THAT(line, ::testing::HasSubstr("\"ok\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\""));
  EXPECT_THAT(
      line, ::testing::HasSubstr(R"("bad":"a\ufffdb\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd\ufffd")"));
}

TEST(LogLevelTest, ParsesNamesAndFilters) {
  EXPECT_EQ(ParseLogLevel("debug"), LogLevel::kDebug);
  EXPECT_EQ(ParseLogLevel("INFO"), LogLevel::kInfo);
  EXPECT_EQ(ParseLogLevel("warn"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("warning"), LogLevel::kWarning);
  EXPECT_EQ(ParseLogLevel("error"), LogLevel::kError);
  EXPECT_EQ(ParseLogLevel("verbose"), std::nullopt);
  SetLogLevel(LogLevel::kWarning);
  EXPECT_FALSE(LogEnabled("debug"));
  EXPECT_FALSE(LogEnabled("info"));
  EXPECT_TRUE(LogEnabled("warning"));
  EXPECT_TRUE(LogEnabled("error"));
  SetLogLevel(LogLevel::kDebug);
  EXPECT_TRUE(LogEnabled("debug"));
  SetLogLevel(LogLevel::kInfo);
}

TEST(TraceParentTest, ParsesTheSpecExample) {
  std::optional<TraceParent> t =
      ParseTraceParent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(t->trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
  EXPECT_EQ(t->span_id, "00f067aa0ba902b7");
  EXPECT_TRUE(t->sampled);
  t = ParseTraceParent(" \t00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00 ");
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(t->sampled);
}

TEST(TraceParentTest, AcceptsALaterVersionWithMoreFields) {
  EXPECT_TRUE(ParseTraceParent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-ever")
                  .has_value());
  EXPECT_TRUE(
      ParseTraceParent("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-09").has_value());
}

TEST(TraceParentTest, RefusesWhatTheSpecRefuses) {
  for (const char* bad : {
           "",
           "garbage",
           // upper-case hex
           "00-4BF92F3577B34DA6A3CE929D0E0E4736-00F067AA0BA902B7-01",
           // version ff
           "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
           // all-zero trace id / parent id
           "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
           // version 00 with anything after the flags
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x",
           // a later version whose extra part does not start with '-'
           "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
           // short fields, wrong separators, non-hex flags
           "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
           "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
           "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\n",
       }) {
    EXPECT_FALSE(ParseTraceParent(bad).has_value()) << bad;
  }
}

}  // namespace
}  // namespace txgate
