// ValueCodec: the one mapping between txgate.v1.Value and MySQL's binary
// protocol (MYSQL_BIND / MYSQL_TIME), in both directions.
//
// Parameters: ParamBinder turns request values into MYSQL_BINDs that point
// into buffers it owns; it refuses a value with no kind or an impossible
// date/time with INVALID_ARGUMENT before anything reaches the server.
// Results: RowDecoder binds one buffer per column in the column's native
// form (integers as 64-bit with their signedness, FLOAT/DOUBLE as binary
// floating point, temporal types as MYSQL_TIME, everything else as bytes), so
// no value passes through a lossy text conversion. Variable-length columns
// start small and grow to the largest value seen.
#ifndef TXGATE_SERVER_SQL_VALUE_CODEC_H_
#define TXGATE_SERVER_SQL_VALUE_CODEC_H_

#include <mysql.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "txgate/v1/database.pb.h"

namespace txgate::sql {

// How a result column is decoded into a Value.
enum class ColumnKind {
  kNull,
  kSigned,
  kUnsigned,
  kFloat,
  kDouble,
  kDecimal,
  kText,
  kBytes,
  kJson,
  kBit,
  kDate,
  kDateTime,
  kTime,
};

// The parts of a result column's metadata that decide its decoding.
struct FieldInfo {
  std::string name;
  enum_field_types type = MYSQL_TYPE_NULL;
  unsigned int flags = 0;      // NOT_NULL_FLAG, UNSIGNED_FLAG, ENUM_FLAG, ...
  unsigned int charsetnr = 0;  // 63 means binary
  unsigned long length = 0;    // display length in bytes
  unsigned int decimals = 0;   // MYSQL_FIELD.decimals: scale, fractional seconds
  bool json = false;           // MariaDB's extended metadata says "json"
};

ColumnKind KindOf(const FieldInfo& field);

// The MySQL type name shown in Column.type, e.g. "INT UNSIGNED".
std::string TypeName(const FieldInfo& field);

// The Column message for `field`.
txgate::v1::Column ColumnOf(const FieldInfo& field);

// MYSQL_TIME <-> proto temporal messages. Hours of a TIME may exceed 24.
txgate::v1::Date DateOf(const MYSQL_TIME& t);
txgate::v1::DateTime DateTimeOf(const MYSQL_TIME& t);
txgate::v1::Duration DurationOf(const MYSQL_TIME& t);
absl::Status ToMysqlTime(const txgate::v1::Date& d, MYSQL_TIME* out);
absl::Status ToMysqlTime(const txgate::v1::DateTime& d, MYSQL_TIME* out);
absl::Status ToMysqlTime(const txgate::v1::Duration& d, MYSQL_TIME* out);

// The value of a BIT(n) column from its big-endian bytes (at most 8).
uint64_t BitsOf(absl::string_view bytes);

// Binds request parameters. The binder owns every buffer its binds point
// into, so it must outlive the statement execution that uses them.
class ParamBinder {
 public:
  // Fills binds for `params`; INVALID_ARGUMENT names the offending index.
  absl::Status Bind(const google::protobuf::RepeatedPtrField<txgate::v1::Value>& params);

  MYSQL_BIND* binds() { return binds_.empty() ? nullptr : binds_.data(); }
  size_t size() const { return binds_.size(); }

 private:
  struct Scratch {
    union {
      int64_t i64;
      uint64_t u64;
      double f64;
      signed char i8;
    };
    MYSQL_TIME time;
  };
  std::vector<MYSQL_BIND> binds_;
  std::vector<Scratch> scratch_;
};

// Decodes the rows of one result set.
class RowDecoder {
 public:
  // Prepares one bind per field. Replaces any earlier setup.
  void Reset(std::vector<FieldInfo> fields);

  const std::vector<FieldInfo>& fields() const { return fields_; }
  MYSQL_BIND* binds() { return binds_.empty() ? nullptr : binds_.data(); }

  // After a fetch: columns whose value did not fit. Grow(i) enlarges column
  // i's buffer to the fetched length; the caller then re-fetches the column
  // and re-binds (the buffers moved).
  std::vector<int> Truncated() const;
  void Grow(int column);

  // Appends the fetched row's values to `row`. Estimated size in `bytes`.
  // A text or bytes value of kMoveBytes or more is moved into `row`, not
  // copied (a 64 MiB value is then held once here, not twice), and its
  // column gets a small buffer again: the caller must re-bind before the
  // next fetch when TakeRebind() says so.
  void Decode(txgate::v1::Row* row, size_t* bytes);

  // True (once) if Decode moved a buffer out since the last call.
  bool TakeRebind() { return std::exchange(rebind_, false); }

  static constexpr size_t kMoveBytes = size_t{1} << 20;

 private:
  struct Column {
    ColumnKind kind;
    std::string buffer;
    unsigned long length = 0;
    my_bool is_null = 0;
    my_bool error = 0;
    union {
      int64_t i64;
      uint64_t u64;
      double f64;
      float f32;
    };
    MYSQL_TIME time;
  };
  std::vector<FieldInfo> fields_;
  std::vector<MYSQL_BIND> binds_;
  std::vector<std::unique_ptr<Column>> columns_;
  bool rebind_ = false;
};

}  // namespace txgate::sql

#endif  // TXGATE_SERVER_SQL_VALUE_CODEC_H_
