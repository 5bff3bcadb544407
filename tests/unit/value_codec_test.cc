// ValueCodec: column metadata -> Column/kind, MYSQL_TIME <-> proto temporal
// messages, parameter binding and row decoding, all without a database. A
// fetch is simulated by writing into the buffers RowDecoder binds, as the
// client library would.
#include "server/sql/value_codec.h"

#include <mysql.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "google/protobuf/text_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/sql/error.h"

namespace txgate::sql {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using txgate::v1::Value;

constexpr unsigned int kBinary = 63;
constexpr unsigned int kUtf8mb4 = 45;

MATCHER_P(EqualsProto, text, absl::StrCat("equals proto <", text, ">")) {
  using Message = std::decay_t<decltype(arg)>;
  Message expected;
  if (!google::protobuf::TextFormat::ParseFromString(text, &expected)) {
    *result_listener << "bad expected text";
    return false;
  }
  return google::protobuf::util::MessageDifferencer::Equals(arg, expected);
}

FieldInfo Field(enum_field_types type, unsigned int flags = 0, unsigned int charsetnr = kUtf8mb4,
                unsigned long length = 0) {
  FieldInfo f;
  f.name = "c";
  f.type = type;
  f.flags = flags;
  f.charsetnr = charsetnr;
  f.length = length;
  return f;
}

MYSQL_TIME Time(unsigned year, unsigned month, unsigned day, unsigned hour = 0, unsigned minute = 0,
                unsigned second = 0, unsigned long micros = 0, bool neg = false) {
  MYSQL_TIME t;
  std::memset(&t, 0, sizeof(t));
  t.year = year;
  t.month = month;
  t.day = day;
  t.hour = hour;
  t.minute = minute;
  t.second = second;
  t.second_part = micros;
  t.neg = neg;
  return t;
}

// ---------------------------------------------------------------- metadata

struct KindCase {
  enum_field_types type;
  unsigned int flags;
  unsigned int charsetnr;
  ColumnKind kind;
  const char* type_name;
};

class KindOfTest : public ::testing::TestWithParam<KindCase> {};

TEST_P(KindOfTest, KindAndTypeName) {
  const KindCase& c = GetParam();
  const FieldInfo f = Field(c.type, c.flags, c.charsetnr);
  EXPECT_EQ(KindOf(f), c.kind);
  EXPECT_EQ(TypeName(f), c.type_name);
}

INSTANTIATE_TEST_SUITE_P(
    Types, KindOfTest,
    ::testing::Values(
        KindCase{MYSQL_TYPE_NULL, 0, kBinary, ColumnKind::kNull, "NULL"},
        KindCase{MYSQL_TYPE_TINY, 0, kBinary, ColumnKind::kSigned, "TINYINT"},
        KindCase{MYSQL_TYPE_TINY, UNSIGNED_FLAG, kBinary, ColumnKind::kUnsigned,
                 "TINYINT UNSIGNED"},
        KindCase{MYSQL_TYPE_SHORT, 0, kBinary, ColumnKind::kSigned, "SMALLINT"},
        KindCase{MYSQL_TYPE_INT24, UNSIGNED_FLAG, kBinary, ColumnKind::kUnsigned,
                 "MEDIUMINT UNSIGNED"},
        KindCase{MYSQL_TYPE_LONG, 0, kBinary, ColumnKind::kSigned, "INT"},
        KindCase{MYSQL_TYPE_LONG, UNSIGNED_FLAG, kBinary, ColumnKind::kUnsigned, "INT UNSIGNED"},
        KindCase{MYSQL_TYPE_LONGLONG, 0, kBinary, ColumnKind::kSigned, "BIGINT"},
        KindCase{MYSQL_TYPE_LONGLONG, UNSIGNED_FLAG | NOT_NULL_FLAG, kBinary, ColumnKind::kUnsigned,
                 "BIGINT UNSIGNED"},
        // YEAR columns carry UNSIGNED_FLAG|ZEROFILL_FLAG; they are plain years.
        KindCase{MYSQL_TYPE_YEAR, UNSIGNED_FLAG | ZEROFILL_FLAG, kBinary, ColumnKind::kSigned,
                 "YEAR"},
        KindCase{MYSQL_TYPE_FLOAT, 0, kBinary, ColumnKind::kFloat, "FLOAT"},
        KindCase{MYSQL_TYPE_DOUBLE, 0, kBinary, ColumnKind::kDouble, "DOUBLE"},
        KindCase{MYSQL_TYPE_NEWDECIMAL, 0, kBinary, ColumnKind::kDecimal, "DECIMAL"},
        KindCase{MYSQL_TYPE_DECIMAL, 0, kBinary, ColumnKind::kDecimal, "DECIMAL"},
        KindCase{MYSQL_TYPE_DATE, 0, kBinary, ColumnKind::kDate, "DATE"},
        KindCase{MYSQL_TYPE_NEWDATE, 0, kBinary, ColumnKind::kDate, "DATE"},
        KindCase{MYSQL_TYPE_DATETIME, 0, kBinary, ColumnKind::kDateTime, "DATETIME"},
        KindCase{MYSQL_TYPE_TIMESTAMP, 0, kBinary, ColumnKind::kDateTime, "TIMESTAMP"},
        KindCase{MYSQL_TYPE_TIME, 0, kBinary, ColumnKind::kTime, "TIME"},
        KindCase{MYSQL_TYPE_BIT, UNSIGNED_FLAG, kBinary, ColumnKind::kBit, "BIT"},
        KindCase{MYSQL_TYPE_JSON, 0, kUtf8mb4, ColumnKind::kJson, "JSON"},
        KindCase{MYSQL_TYPE_GEOMETRY, BINARY_FLAG | BLOB_FLAG, kBinary, ColumnKind::kBytes,
                 "GEOMETRY"},
        // Strings: charset 63 means binary data, anything else text.
        KindCase{MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, ColumnKind::kText, "VARCHAR"},
        KindCase{MYSQL_TYPE_VAR_STRING, BINARY_FLAG, kBinary, ColumnKind::kBytes, "VARBINARY"},
        KindCase{MYSQL_TYPE_VARCHAR, 0, kUtf8mb4, ColumnKind::kText, "VARCHAR"},
        KindCase{MYSQL_TYPE_STRING, 0, kUtf8mb4, ColumnKind::kText, "CHAR"},
        KindCase{MYSQL_TYPE_STRING, BINARY_FLAG, kBinary, ColumnKind::kBytes, "BINARY"},
        KindCase{MYSQL_TYPE_BLOB, BLOB_FLAG, kUtf8mb4, ColumnKind::kText, "TEXT"},
        KindCase{MYSQL_TYPE_BLOB, BLOB_FLAG | BINARY_FLAG, kBinary, ColumnKind::kBytes, "BLOB"},
        KindCase{MYSQL_TYPE_MEDIUM_BLOB, BLOB_FLAG, kBinary, ColumnKind::kBytes, "BLOB"},
        KindCase{MYSQL_TYPE_LONG_BLOB, BLOB_FLAG, kUtf8mb4, ColumnKind::kText, "TEXT"},
        // ENUM and SET arrive as MYSQL_TYPE_STRING with a flag; they are text.
        KindCase{MYSQL_TYPE_STRING, ENUM_FLAG, kUtf8mb4, ColumnKind::kText, "ENUM"},
        KindCase{MYSQL_TYPE_STRING, SET_FLAG, kUtf8mb4, ColumnKind::kText, "SET"},
        KindCase{MYSQL_TYPE_STRING, ENUM_FLAG, kBinary, ColumnKind::kText, "ENUM"}));

TEST(KindOf, MariadbJsonIsLongtextWithJsonFormat) {
  FieldInfo f = Field(MYSQL_TYPE_BLOB, BLOB_FLAG, kUtf8mb4);
  f.json = true;
  EXPECT_EQ(KindOf(f), ColumnKind::kJson);
  EXPECT_EQ(TypeName(f), "JSON");
  f.type = MYSQL_TYPE_VAR_STRING;
  EXPECT_EQ(KindOf(f), ColumnKind::kJson);
  EXPECT_EQ(TypeName(f), "JSON");
}

TEST(ColumnOf, NameTypeAndNullability) {
  FieldInfo f = Field(MYSQL_TYPE_LONGLONG, UNSIGNED_FLAG | NOT_NULL_FLAG | PRI_KEY_FLAG, kBinary);
  f.name = "id";
  EXPECT_THAT(ColumnOf(f), EqualsProto("name: 'id' type: 'BIGINT UNSIGNED' nullable: false"));

  FieldInfo g = Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4);
  g.name = "note";
  EXPECT_THAT(ColumnOf(g), EqualsProto("name: 'note' type: 'VARCHAR' nullable: true"));
}

TEST(ColumnOf, LengthPrecisionAndScale) {
  FieldInfo d = Field(MYSQL_TYPE_NEWDECIMAL, 0, kBinary, 12);  // DECIMAL(10,2)
  d.decimals = 2;
  EXPECT_THAT(ColumnOf(d),
              EqualsProto("name: 'c' type: 'DECIMAL' nullable: true length: 12 precision: 10 "
                          "scale: 2"));
  FieldInfo u = Field(MYSQL_TYPE_NEWDECIMAL, UNSIGNED_FLAG, kBinary, 7);  // DECIMAL(7,0) UNSIGNED
  EXPECT_EQ(ColumnOf(u).precision(), 7u);
  EXPECT_EQ(ColumnOf(u).scale(), 0u);
  FieldInfo v = Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 40);  // VARCHAR(10) in utf8mb4
  EXPECT_EQ(ColumnOf(v).length(), 10u);
  FieldInfo b = Field(MYSQL_TYPE_VAR_STRING, BINARY_FLAG, kBinary, 12);  // VARBINARY(12)
  EXPECT_EQ(ColumnOf(b).length(), 12u);
  FieldInfo f = Field(MYSQL_TYPE_DOUBLE, 0, kBinary, 22);  // DOUBLE without (M,D)
  f.decimals = 31;
  EXPECT_EQ(ColumnOf(f).scale(), 0u);
  FieldInfo t = Field(MYSQL_TYPE_DATETIME, BINARY_FLAG, kBinary, 26);  // DATETIME(6)
  t.decimals = 6;
  EXPECT_EQ(ColumnOf(t).scale(), 6u);
  EXPECT_EQ(ColumnOf(t).precision(), 0u);
}

// ------------------------------------------------------------ temporal types

TEST(Temporal, DateOfAndDateTimeOfCopyEveryPart) {
  EXPECT_THAT(DateOf(Time(2024, 2, 29)), EqualsProto("year: 2024 month: 2 day: 29"));
  EXPECT_THAT(DateOf(Time(0, 0, 0)), EqualsProto(""));
  EXPECT_THAT(DateTimeOf(Time(9999, 12, 31, 23, 59, 58, 999999)),
              EqualsProto("year: 9999 month: 12 day: 31 hour: 23 minute: 59 second: 58 "
                          "microsecond: 999999"));
}

TEST(Temporal, DurationOfCarriesDaysIntoHours) {
  // The binary protocol may send 34:10:00 as day 1, hour 10.
  MYSQL_TIME t = Time(0, 0, 1, 10, 11, 12, 13);
  t.time_type = MYSQL_TIMESTAMP_TIME;
  EXPECT_THAT(DurationOf(t), EqualsProto("hours: 34 minutes: 11 seconds: 12 microseconds: 13"));
  // ... or as hour 34 with no days.
  MYSQL_TIME u = Time(0, 0, 0, 838, 59, 59, 999999, /*neg=*/true);
  EXPECT_THAT(DurationOf(u), EqualsProto("negative: true hours: 838 minutes: 59 seconds: 59 "
                                         "microseconds: 999999"));
}

TEST(Temporal, DateToMysqlTime) {
  txgate::v1::Date d;
  d.set_year(2024);
  d.set_month(12);
  d.set_day(31);
  MYSQL_TIME t;
  ASSERT_TRUE(ToMysqlTime(d, &t).ok());
  EXPECT_EQ(t.year, 2024u);
  EXPECT_EQ(t.month, 12u);
  EXPECT_EQ(t.day, 31u);
  EXPECT_EQ(t.hour, 0u);
  EXPECT_EQ(t.time_type, MYSQL_TIMESTAMP_DATE);

  // MySQL's zero date and zero parts are accepted.
  EXPECT_TRUE(ToMysqlTime(txgate::v1::Date(), &t).ok());
  EXPECT_EQ(t.year, 0u);
}

TEST(Temporal, DateOutOfRangeIsInvalidArgument) {
  const int bad[][3] = {{10000, 1, 1}, {-1, 1, 1},    {2024, 13, 1},
                        {2024, -1, 1}, {2024, 1, 32}, {2024, 1, -1}};
  for (const auto& b : bad) {
    txgate::v1::Date d;
    d.set_year(b[0]);
    d.set_month(b[1]);
    d.set_day(b[2]);
    MYSQL_TIME t;
    const absl::Status st = ToMysqlTime(d, &t);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << d.ShortDebugString();
  }
}

TEST(Temporal, DateTimeToMysqlTime) {
  txgate::v1::DateTime d;
  d.set_year(1970);
  d.set_month(1);
  d.set_day(2);
  d.set_hour(23);
  d.set_minute(59);
  d.set_second(59);
  d.set_microsecond(999999);
  MYSQL_TIME t;
  ASSERT_TRUE(ToMysqlTime(d, &t).ok());
  EXPECT_EQ(t.time_type, MYSQL_TIMESTAMP_DATETIME);
  EXPECT_THAT(DateTimeOf(t), EqualsProto(d.ShortDebugString()));
}

TEST(Temporal, DateTimeOutOfRangeIsInvalidArgument) {
  txgate::v1::DateTime ok;
  ok.set_year(2000);
  ok.set_month(6);
  ok.set_day(15);
  MYSQL_TIME t;
  ASSERT_TRUE(ToMysqlTime(ok, &t).ok());
  for (int part = 0; part < 7; ++part) {
    txgate::v1::DateTime d = ok;
    switch (part) {
      case 0:
        d.set_year(10000);
        break;
      case 1:
        d.set_month(13);
        break;
      case 2:
        d.set_day(32);
        break;
      case 3:
        d.set_hour(24);
        break;
      case 4:
        d.set_minute(60);
        break;
      case 5:
        d.set_second(60);
        break;
      case 6:
        d.set_microsecond(1000000);
        break;
    }
    EXPECT_EQ(ToMysqlTime(d, &t).code(), absl::StatusCode::kInvalidArgument)
        << d.ShortDebugString();
  }
}

TEST(Temporal, DurationToMysqlTimeSplitsDaysAndKeepsSign) {
  txgate::v1::Duration d;
  d.set_negative(true);
  d.set_hours(838);
  d.set_minutes(59);
  d.set_seconds(59);
  d.set_microseconds(999999);
  MYSQL_TIME t;
  ASSERT_TRUE(ToMysqlTime(d, &t).ok());
  EXPECT_EQ(t.time_type, MYSQL_TIMESTAMP_TIME);
  EXPECT_TRUE(t.neg);
  // The wire carries hours in one byte: 838 h = 34 days + 22 h.
  EXPECT_EQ(t.day, 34u);
  EXPECT_EQ(t.hour, 22u);
  EXPECT_EQ(t.minute, 59u);
  EXPECT_EQ(t.second, 59u);
  EXPECT_EQ(t.second_part, 999999u);
  EXPECT_EQ(t.year, 0u);
  EXPECT_EQ(t.month, 0u);
}

TEST(Temporal, DurationRoundTrips) {
  for (int hours : {0, 1, 23, 24, 25, 47, 48, 100, 837, 838}) {
    for (bool negative : {false, true}) {
      txgate::v1::Duration d;
      d.set_negative(negative);
      d.set_hours(hours);
      d.set_minutes(7);
      d.set_seconds(8);
      d.set_microseconds(9);
      MYSQL_TIME t;
      ASSERT_TRUE(ToMysqlTime(d, &t).ok()) << d.ShortDebugString();
      EXPECT_LT(t.hour, 24u);
      EXPECT_THAT(DurationOf(t), EqualsProto(d.ShortDebugString()));
    }
  }
}

TEST(Temporal, DurationOutOfRangeIsInvalidArgument) {
  const int bad[][4] = {{839, 0, 0, 0}, {-1, 0, 0, 0}, {0, 60, 0, 0},
                        {0, -1, 0, 0},  {0, 0, 60, 0}, {0, 0, 0, 1000000}};
  for (const auto& b : bad) {
    txgate::v1::Duration d;
    d.set_hours(b[0]);
    d.set_minutes(b[1]);
    d.set_seconds(b[2]);
    d.set_microseconds(b[3]);
    MYSQL_TIME t;
    const absl::Status st = ToMysqlTime(d, &t);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << d.ShortDebugString();
    EXPECT_THAT(std::string(st.message()), HasSubstr("838:59:59"));
  }
}

TEST(BitsOf, BigEndianBytes) {
  EXPECT_EQ(BitsOf(""), 0u);
  EXPECT_EQ(BitsOf(absl::string_view("\x00", 1)), 0u);
  EXPECT_EQ(BitsOf("\x01"), 1u);
  EXPECT_EQ(BitsOf(absl::string_view("\x01\x00", 2)), 256u);
  EXPECT_EQ(BitsOf("\x12\x34\x56"), 0x123456u);
  EXPECT_EQ(BitsOf("\xff\xff\xff\xff\xff\xff\xff\xff"), std::numeric_limits<uint64_t>::max());
  EXPECT_EQ(BitsOf(absl::string_view("\x80\x00\x00\x00\x00\x00\x00\x01", 8)), 0x8000000000000001u);
}

// --------------------------------------------------------------- parameters

google::protobuf::RepeatedPtrField<Value> Params(std::vector<absl::string_view> texts) {
  google::protobuf::RepeatedPtrField<Value> out;
  for (absl::string_view text : texts) {
    EXPECT_TRUE(google::protobuf::TextFormat::ParseFromString(std::string(text), out.Add()))
        << text;
  }
  return out;
}

absl::string_view BufferBytes(const MYSQL_BIND& b) {
  return absl::string_view(static_cast<const char*>(b.buffer), b.buffer_length);
}

TEST(ParamBinder, EmptyParameterList) {
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(Params({})).ok());
  EXPECT_EQ(binder.size(), 0u);
  EXPECT_EQ(binder.binds(), nullptr);
}

TEST(ParamBinder, IntegersFloatsAndBool) {
  const auto params = Params({"null_value: NULL_VALUE", "int64_value: -9223372036854775808",
                              "uint64_value: 18446744073709551615", "bit_value: 5",
                              "double_value: -0.125", "bool_value: true", "bool_value: false"});
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(params).ok());
  ASSERT_EQ(binder.size(), 7u);
  MYSQL_BIND* b = binder.binds();

  EXPECT_EQ(b[0].buffer_type, MYSQL_TYPE_NULL);

  EXPECT_EQ(b[1].buffer_type, MYSQL_TYPE_LONGLONG);
  EXPECT_FALSE(b[1].is_unsigned);
  EXPECT_EQ(*static_cast<const int64_t*>(b[1].buffer), std::numeric_limits<int64_t>::min());

  EXPECT_EQ(b[2].buffer_type, MYSQL_TYPE_LONGLONG);
  EXPECT_TRUE(b[2].is_unsigned);
  EXPECT_EQ(*static_cast<const uint64_t*>(b[2].buffer), std::numeric_limits<uint64_t>::max());

  EXPECT_EQ(b[3].buffer_type, MYSQL_TYPE_LONGLONG);
  EXPECT_TRUE(b[3].is_unsigned);
  EXPECT_EQ(*static_cast<const uint64_t*>(b[3].buffer), 5u);

  EXPECT_EQ(b[4].buffer_type, MYSQL_TYPE_DOUBLE);
  EXPECT_EQ(*static_cast<const double*>(b[4].buffer), -0.125);

  EXPECT_EQ(b[5].buffer_type, MYSQL_TYPE_TINY);
  EXPECT_EQ(*static_cast<const signed char*>(b[5].buffer), 1);
  EXPECT_EQ(b[6].buffer_type, MYSQL_TYPE_TINY);
  EXPECT_EQ(*static_cast<const signed char*>(b[6].buffer), 0);
}

TEST(ParamBinder, StringLikeValuesPointAtTheirBytes) {
  const auto params = Params({R"(string_value: "héllo")", R"(bytes_value: "a\000b\377")",
                              R"(decimal_value: "-12345.678900")",
                              R"(json_value: "{\"k\": [1, 2]}")", R"(string_value: "")"});
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(params).ok());
  ASSERT_EQ(binder.size(), 5u);
  MYSQL_BIND* b = binder.binds();

  EXPECT_EQ(b[0].buffer_type, MYSQL_TYPE_STRING);
  EXPECT_EQ(BufferBytes(b[0]), "héllo");
  EXPECT_EQ(b[1].buffer_type, MYSQL_TYPE_BLOB);
  EXPECT_EQ(BufferBytes(b[1]), absl::string_view("a\0b\xff", 4));
  EXPECT_EQ(b[2].buffer_type, MYSQL_TYPE_NEWDECIMAL);
  EXPECT_EQ(BufferBytes(b[2]), "-12345.678900");
  EXPECT_EQ(b[3].buffer_type, MYSQL_TYPE_STRING);
  EXPECT_EQ(BufferBytes(b[3]), R"({"k": [1, 2]})");
  EXPECT_EQ(b[4].buffer_type, MYSQL_TYPE_STRING);
  EXPECT_EQ(b[4].buffer_length, 0u);
}

TEST(ParamBinder, TemporalValues) {
  const auto params =
      Params({"date_value { year: 2024 month: 2 day: 29 }",
              "datetime_value { year: 2001 month: 9 day: 9 hour: 1 minute: 46 second: 40 "
              "microsecond: 123456 }",
              "time_value { negative: true hours: 100 minutes: 2 seconds: 3 microseconds: 4 }"});
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(params).ok());
  MYSQL_BIND* b = binder.binds();

  ASSERT_EQ(b[0].buffer_type, MYSQL_TYPE_DATE);
  const auto* date = static_cast<const MYSQL_TIME*>(b[0].buffer);
  EXPECT_EQ(date->time_type, MYSQL_TIMESTAMP_DATE);
  EXPECT_THAT(DateOf(*date), EqualsProto("year: 2024 month: 2 day: 29"));

  ASSERT_EQ(b[1].buffer_type, MYSQL_TYPE_DATETIME);
  const auto* dt = static_cast<const MYSQL_TIME*>(b[1].buffer);
  EXPECT_EQ(dt->time_type, MYSQL_TIMESTAMP_DATETIME);
  EXPECT_THAT(DateTimeOf(*dt), EqualsProto(params[1].datetime_value().ShortDebugString()));

  ASSERT_EQ(b[2].buffer_type, MYSQL_TYPE_TIME);
  const auto* time = static_cast<const MYSQL_TIME*>(b[2].buffer);
  EXPECT_EQ(time->time_type, MYSQL_TIMESTAMP_TIME);
  EXPECT_TRUE(time->neg);
  EXPECT_EQ(time->day, 4u);
  EXPECT_EQ(time->hour, 4u);
  EXPECT_THAT(DurationOf(*time), EqualsProto(params[2].time_value().ShortDebugString()));
}

TEST(ParamBinder, EveryBufferStaysValidForTheWholeStatement) {
  // Many parameters: no buffer may move while later ones are bound.
  std::vector<std::string> texts;
  for (int i = 0; i < 100; ++i) texts.push_back(absl::StrCat("int64_value: ", i * 1000 - 7));
  std::vector<absl::string_view> views(texts.begin(), texts.end());
  const auto params = Params(views);
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(params).ok());
  ASSERT_EQ(binder.size(), 100u);
  for (int i = 0; i < 100; ++i) {
    EXPECT_EQ(*static_cast<const int64_t*>(binder.binds()[i].buffer), i * 1000 - 7) << i;
  }
}

TEST(ParamBinder, RebindingReplacesEarlierParameters) {
  ParamBinder binder;
  ASSERT_TRUE(binder.Bind(Params({"int64_value: 1", "int64_value: 2", "int64_value: 3"})).ok());
  ASSERT_TRUE(binder.Bind(Params({"double_value: 2.5"})).ok());
  ASSERT_EQ(binder.size(), 1u);
  EXPECT_EQ(binder.binds()[0].buffer_type, MYSQL_TYPE_DOUBLE);
  EXPECT_EQ(*static_cast<const double*>(binder.binds()[0].buffer), 2.5);
}

TEST(ParamBinder, UnsetKindNamesTheOneBasedIndex) {
  const auto params = Params({"int64_value: 1", ""});
  ParamBinder binder;
  const absl::Status st = binder.Bind(params);
  EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(st.message()), HasSubstr("parameter 2"));
  EXPECT_EQ(GetReason(st), "INVALID_REQUEST");
}

TEST(ParamBinder, ImpossibleTemporalValuesNameTheOneBasedIndex) {
  struct Case {
    const char* bad;
    const char* index;
  } cases[] = {
      {"date_value { year: 2024 month: 13 day: 1 }", "parameter 3"},
      {"datetime_value { year: 2024 month: 1 day: 1 hour: 24 }", "parameter 3"},
      {"time_value { hours: 839 }", "parameter 3"},
  };
  for (const Case& c : cases) {
    const auto params = Params({"string_value: 'x'", "null_value: NULL_VALUE", c.bad});
    ParamBinder binder;
    const absl::Status st = binder.Bind(params);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << c.bad;
    EXPECT_THAT(std::string(st.message()), HasSubstr(c.index)) << c.bad;
    EXPECT_EQ(GetReason(st), "INVALID_REQUEST") << c.bad;
  }
}

// ------------------------------------------------------------------- rows

// Writes what the client library would write for one column of a fetch.
void FetchInt(MYSQL_BIND& b, int64_t v) {
  std::memcpy(b.buffer, &v, sizeof(v));
  *b.is_null = 0;
  *b.length = sizeof(v);
}

void FetchBytes(MYSQL_BIND& b, absl::string_view bytes) {
  std::memcpy(b.buffer, bytes.data(), std::min<size_t>(bytes.size(), b.buffer_length));
  *b.is_null = 0;
  *b.length = bytes.size();  // the full length, even when truncated
}

void FetchTime(MYSQL_BIND& b, const MYSQL_TIME& t) {
  std::memcpy(b.buffer, &t, sizeof(t));
  *b.is_null = 0;
  *b.length = sizeof(t);
}

void FetchNull(MYSQL_BIND& b) { *b.is_null = 1; }

TEST(RowDecoder, BindsEachColumnInItsNativeForm) {
  RowDecoder dec;
  dec.Reset(
      {Field(MYSQL_TYPE_LONG), Field(MYSQL_TYPE_LONGLONG, UNSIGNED_FLAG), Field(MYSQL_TYPE_FLOAT),
       Field(MYSQL_TYPE_DOUBLE), Field(MYSQL_TYPE_NEWDATE), Field(MYSQL_TYPE_TIMESTAMP),
       Field(MYSQL_TYPE_TIME), Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 40),
       Field(MYSQL_TYPE_BLOB, 0, kBinary, 65535), Field(MYSQL_TYPE_NEWDECIMAL, 0, kBinary, 0)});
  ASSERT_EQ(dec.fields().size(), 10u);
  MYSQL_BIND* b = dec.binds();
  EXPECT_EQ(b[0].buffer_type, MYSQL_TYPE_LONGLONG);
  EXPECT_FALSE(b[0].is_unsigned);
  EXPECT_EQ(b[1].buffer_type, MYSQL_TYPE_LONGLONG);
  EXPECT_TRUE(b[1].is_unsigned);
  EXPECT_EQ(b[2].buffer_type, MYSQL_TYPE_FLOAT);
  EXPECT_EQ(b[3].buffer_type, MYSQL_TYPE_DOUBLE);
  EXPECT_EQ(b[4].buffer_type, MYSQL_TYPE_DATE);
  EXPECT_EQ(b[5].buffer_type, MYSQL_TYPE_TIMESTAMP);
  EXPECT_EQ(b[6].buffer_type, MYSQL_TYPE_TIME);
  // Variable-length columns: bytes, starting small (they grow on demand).
  EXPECT_EQ(b[7].buffer_type, MYSQL_TYPE_BLOB);
  EXPECT_GE(b[7].buffer_length, 1u);
  EXPECT_EQ(b[8].buffer_type, MYSQL_TYPE_BLOB);
  EXPECT_GE(b[8].buffer_length, 1u);
  EXPECT_LT(b[8].buffer_length, 65535u);
  EXPECT_GE(b[9].buffer_length, 1u);
  for (int i = 0; i < 10; ++i) {
    EXPECT_NE(b[i].buffer, nullptr) << i;
    EXPECT_NE(b[i].is_null, nullptr) << i;
    EXPECT_NE(b[i].length, nullptr) << i;
  }
}

TEST(RowDecoder, DecodesEveryKind) {
  FieldInfo json = Field(MYSQL_TYPE_BLOB, BLOB_FLAG, kUtf8mb4, 1000);
  json.json = true;
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_LONGLONG), Field(MYSQL_TYPE_LONGLONG, UNSIGNED_FLAG),
             Field(MYSQL_TYPE_FLOAT), Field(MYSQL_TYPE_DOUBLE),
             Field(MYSQL_TYPE_NEWDECIMAL, 0, kBinary, 20),
             Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 20),
             Field(MYSQL_TYPE_VAR_STRING, 0, kBinary, 20), json,
             Field(MYSQL_TYPE_BIT, UNSIGNED_FLAG, kBinary, 16), Field(MYSQL_TYPE_DATE),
             Field(MYSQL_TYPE_DATETIME), Field(MYSQL_TYPE_TIME), Field(MYSQL_TYPE_YEAR),
             Field(MYSQL_TYPE_NULL)});
  MYSQL_BIND* b = dec.binds();
  FetchInt(b[0], std::numeric_limits<int64_t>::min());
  FetchInt(b[1], -1);  // all bits set: 2^64-1 unsigned
  const float f = 0.1f;
  std::memcpy(b[2].buffer, &f, sizeof(f));
  *b[2].is_null = 0;
  const double d = 1e300;
  std::memcpy(b[3].buffer, &d, sizeof(d));
  *b[3].is_null = 0;
  FetchBytes(b[4], "-12345.678900");
  FetchBytes(b[5], "héllo");
  FetchBytes(b[6], absl::string_view("\0\x01\xff", 3));
  FetchBytes(b[7], R"({"a": 1})");
  FetchBytes(b[8], absl::string_view("\x01\x02", 2));
  FetchTime(b[9], Time(2024, 2, 29));
  FetchTime(b[10], Time(2024, 2, 29, 13, 14, 15, 16));
  FetchTime(b[11], Time(0, 0, 2, 3, 4, 5, 6, true));
  FetchInt(b[12], 2155);
  FetchNull(b[13]);

  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  ASSERT_EQ(row.values_size(), 14);
  EXPECT_THAT(row.values(0), EqualsProto("int64_value: -9223372036854775808"));
  EXPECT_THAT(row.values(1), EqualsProto("uint64_value: 18446744073709551615"));
  // FLOAT widens to double exactly.
  EXPECT_EQ(row.values(2).double_value(), static_cast<double>(0.1f));
  EXPECT_EQ(row.values(3).double_value(), 1e300);
  EXPECT_THAT(row.values(4), EqualsProto("decimal_value: '-12345.678900'"));
  EXPECT_EQ(row.values(5).string_value(), "héllo");
  EXPECT_EQ(row.values(6).bytes_value(), std::string("\0\x01\xff", 3));
  EXPECT_THAT(row.values(7), EqualsProto(R"pb(json_value: '{"a": 1}')pb"));
  EXPECT_THAT(row.values(8), EqualsProto("bit_value: 258"));
  EXPECT_THAT(row.values(9), EqualsProto("date_value { year: 2024 month: 2 day: 29 }"));
  EXPECT_THAT(row.values(10),
              EqualsProto("datetime_value { year: 2024 month: 2 day: 29 hour: 13 minute: 14 "
                          "second: 15 microsecond: 16 }"));
  EXPECT_THAT(row.values(11), EqualsProto("time_value { negative: true hours: 51 minutes: 4 "
                                          "seconds: 5 microseconds: 6 }"));
  EXPECT_THAT(row.values(12), EqualsProto("int64_value: 2155"));
  EXPECT_THAT(row.values(13), EqualsProto("null_value: NULL_VALUE"));
  // The size estimate covers at least the variable-length payload.
  EXPECT_GE(bytes, 13u + 6 + 3 + 8 + 2);
}

TEST(RowDecoder, SqlNullInAnyColumnIsNullValue) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_LONG), Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 10),
             Field(MYSQL_TYPE_DATETIME), Field(MYSQL_TYPE_DOUBLE)});
  for (int i = 0; i < 4; ++i) FetchNull(dec.binds()[i]);
  EXPECT_THAT(dec.Truncated(), IsEmpty());
  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  ASSERT_EQ(row.values_size(), 4);
  for (const Value& v : row.values()) EXPECT_EQ(v.kind_case(), Value::kNullValue);
}

TEST(RowDecoder, TruncatedColumnsGrowToTheFetchedLength) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_LONG), Field(MYSQL_TYPE_BLOB, BLOB_FLAG, kUtf8mb4, 65535),
             Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 8)});
  const std::string big(5000, 'x');
  FetchInt(dec.binds()[0], 7);
  FetchBytes(dec.binds()[1], big);
  FetchBytes(dec.binds()[2], "short");
  ASSERT_THAT(dec.Truncated(), ElementsAre(1));

  dec.Grow(1);
  MYSQL_BIND& grown = dec.binds()[1];
  ASSERT_GE(grown.buffer_length, big.size());
  // The caller re-fetches the column into the new buffer.
  FetchBytes(grown, big);
  EXPECT_THAT(dec.Truncated(), IsEmpty());

  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  ASSERT_EQ(row.values_size(), 3);
  EXPECT_EQ(row.values(0).int64_value(), 7);
  EXPECT_EQ(row.values(1).string_value(), big);
  EXPECT_EQ(row.values(2).string_value(), "short");
  EXPECT_GE(bytes, big.size());
}

TEST(RowDecoder, ColumnWithUnknownLengthStillGrows) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_VAR_STRING, 0, kBinary, 0)});
  FetchBytes(dec.binds()[0], "abcdef");
  ASSERT_THAT(dec.Truncated(), ElementsAre(0));
  dec.Grow(0);
  FetchBytes(dec.binds()[0], "abcdef");
  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  EXPECT_EQ(row.values(0).bytes_value(), "abcdef");
}

TEST(RowDecoder, ReusesBuffersAcrossRows) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 30), Field(MYSQL_TYPE_LONG)});
  txgate::v1::Row first;
  txgate::v1::Row second;
  size_t bytes = 0;
  FetchBytes(dec.binds()[0], "a longer first value");
  FetchInt(dec.binds()[1], 1);
  dec.Decode(&first, &bytes);
  const size_t after_first = bytes;
  // A shorter value must not show leftovers of the longer one.
  FetchBytes(dec.binds()[0], "ab");
  FetchNull(dec.binds()[1]);
  dec.Decode(&second, &bytes);
  EXPECT_EQ(first.values(0).string_value(), "a longer first value");
  EXPECT_EQ(first.values(1).int64_value(), 1);
  EXPECT_EQ(second.values(0).string_value(), "ab");
  EXPECT_EQ(second.values(1).kind_case(), Value::kNullValue);
  // Sizes accumulate across rows.
  EXPECT_GT(after_first, 0u);
  EXPECT_GT(bytes, after_first);
}

TEST(RowDecoder, DecodeAppendsToTheRow) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_LONG)});
  FetchInt(dec.binds()[0], 42);
  txgate::v1::Row row;
  row.add_values()->set_string_value("existing");
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  ASSERT_EQ(row.values_size(), 2);
  EXPECT_EQ(row.values(0).string_value(), "existing");
  EXPECT_EQ(row.values(1).int64_value(), 42);
}

TEST(RowDecoder, ResetReplacesTheColumns) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_LONG), Field(MYSQL_TYPE_LONG), Field(MYSQL_TYPE_LONG)});
  FieldInfo text = Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 10);
  text.name = "t";
  dec.Reset({text});
  ASSERT_EQ(dec.fields().size(), 1u);
  EXPECT_EQ(dec.fields()[0].name, "t");
  EXPECT_EQ(dec.binds()[0].buffer_type, MYSQL_TYPE_BLOB);
  FetchBytes(dec.binds()[0], "new");
  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  ASSERT_EQ(row.values_size(), 1);
  EXPECT_EQ(row.values(0).string_value(), "new");

  dec.Reset({});
  EXPECT_EQ(dec.binds(), nullptr);
  txgate::v1::Row empty;
  dec.Decode(&empty, &bytes);
  EXPECT_EQ(empty.values_size(), 0);
}

TEST(RowDecoder, ALargeValueMovesIntoTheRowAndItsColumnStartsSmallAgain) {
  RowDecoder dec;
  dec.Reset({Field(MYSQL_TYPE_BLOB, BLOB_FLAG, kBinary, 0xFFFFFFFF),
             Field(MYSQL_TYPE_VAR_STRING, 0, kUtf8mb4, 20)});
  std::string big(RowDecoder::kMoveBytes + 3, 'x');
  big[7] = '\0';
  // As Connection::Next: a fetch truncates, the column grows, is fetched again.
  FetchBytes(dec.binds()[0], big);
  FetchBytes(dec.binds()[1], "small");
  ASSERT_EQ(dec.Truncated(), std::vector<int>{0});
  dec.Grow(0);
  FetchBytes(dec.binds()[0], big);
  EXPECT_FALSE(dec.TakeRebind());
  txgate::v1::Row row;
  size_t bytes = 0;
  dec.Decode(&row, &bytes);
  EXPECT_TRUE(row.values(0).bytes_value() == big);
  EXPECT_EQ(row.values(1).string_value(), "small");
  EXPECT_GE(bytes, big.size());
  // The buffer went with the value: the column's is small again, to be re-bound.
  EXPECT_TRUE(dec.TakeRebind());
  EXPECT_FALSE(dec.TakeRebind());
  EXPECT_LT(dec.binds()[0].buffer_length, 1024u);
  // The next row decodes as usual.
  FetchBytes(dec.binds()[0], "next");
  FetchBytes(dec.binds()[1], "row");
  txgate::v1::Row next;
  dec.Decode(&next, &bytes);
  EXPECT_EQ(next.values(0).bytes_value(), "next");
  EXPECT_EQ(next.values(1).string_value(), "row");
  EXPECT_FALSE(dec.TakeRebind());
}

}  // namespace
}  // namespace txgate::sql
