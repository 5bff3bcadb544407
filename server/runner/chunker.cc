#include "server/runner/chunker.h"

#include <algorithm>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/sql/error.h"

namespace txgate::runner {
namespace {

using google::protobuf::io::CodedOutputStream;
using txgate::v1::Row;
using txgate::v1::Value;

// Room kept in every chunk for its scalar fields: warning_count (tag and
// up to 5 bytes), done and chunked_value (2 bytes each).
constexpr size_t kScalarBytes = 16;
// The most a length-delimited field adds beyond its content when its
// content is under 4 GiB: a one-byte tag and a length of at most 5 bytes.
constexpr size_t kFieldHeader = 6;
constexpr int64_t kMinMaxBytes = 4 << 10;

// The text of a value that may be cut, or null: only string, bytes and
// JSON values are (a decimal is short, and the other kinds are scalars).
const std::string* CuttableText(const Value& v) {
  switch (v.kind_case()) {
    case Value::kStringValue:
      return &v.string_value();
    case Value::kBytesValue:
      return &v.bytes_value();
    case Value::kJsonValue:
      return &v.json_value();
    default:
      return nullptr;
  }
}

// A value of kind `kind` (string, bytes or JSON) holding `text`.
void SetText(Value::KindCase kind, absl::string_view text, Value* out) {
  switch (kind) {
    case Value::kStringValue:
      out->set_string_value(text.data(), text.size());
      break;
    case Value::kBytesValue:
      out->set_bytes_value(text.data(), text.size());
      break;
    default:
      out->set_json_value(text.data(), text.size());
      break;
  }
}

// The encoded size of a Value holding `n` bytes of text (fields 5, 6, 12:
// one-byte tags).
size_t TextValueSize(size_t n) { return 1 + CodedOutputStream::VarintSize64(n) + n; }

}  // namespace

size_t FieldCost(size_t size) { return 1 + CodedOutputStream::VarintSize64(size) + size; }

absl::Status ResultTooLarge(absl::string_view message, absl::string_view flag, int64_t limit) {
  return sql::WithMetadata(sql::WithMetadata(sql::MakeStatus(absl::StatusCode::kResourceExhausted,
                                                             txgate::v1::RESULT_TOO_LARGE, message),
                                             "limit", flag),
                           "value", absl::StrCat(limit));
}

Chunker::Chunker(ChunkLimits limits) : limits_(limits) {
  limits_.max_bytes = std::max(limits_.max_bytes, kMinMaxBytes);
  limits_.max_rows = std::max<int64_t>(limits_.max_rows, 1);
}

absl::Status Chunker::Begin(txgate::v1::StreamQueryResponse* chunk) {
  chunk_ = chunk;
  bytes_ = chunk->ByteSizeLong() + kScalarBytes;
  full_ = false;
  if (holding_) return PlaceHeld();
  return absl::OkStatus();
}

bool Chunker::Room() const {
  return !full_ && !holding_ && chunk_->rows_size() < limits_.max_rows &&
         bytes_ < static_cast<size_t>(limits_.target_bytes);
}

absl::Status Chunker::Add(Row row) {
  const size_t cost = FieldCost(row.ByteSizeLong());
  const size_t max = static_cast<size_t>(limits_.max_bytes);
  if (bytes_ + cost <= max) {
    *chunk_->add_rows() = std::move(row);
    bytes_ += cost;
    return absl::OkStatus();
  }
  const bool fits_alone = kScalarBytes + cost <= max;
  if (!fits_alone && !limits_.split_values) {
    return ResultTooLarge(
        absl::StrCat(
            "a row takes ", cost,
            " bytes encoded, more than one message may (--max_result_bytes=", limits_.max_bytes,
            "); set accept_chunked_values in the StreamQueryRequest to receive it split "
            "across chunks (the txgate client helpers do), or select less per row"),
        "max_result_bytes", limits_.max_bytes);
  }
  held_ = std::move(row);
  holding_ = true;
  splitting_ = !fits_alone;
  next_ = 0;
  offset_ = 0;
  // Beside other rows (or the columns), a row that does not fit waits,
  // whole, for a chunk of its own; only one that fits no chunk is cut.
  if (fits_alone || chunk_->rows_size() > 0) {
    full_ = true;
    return absl::OkStatus();
  }
  return PlaceHeld();
}

size_t Chunker::TailCost(int index) const {
  size_t cost = 0;
  for (int k = index + 1; k < held_.values_size(); ++k) {
    const Value& v = held_.values(k);
    if (CuttableText(v) != nullptr) return cost + FieldCost(TextValueSize(0));
    cost += FieldCost(v.ByteSizeLong());
  }
  return cost;
}

absl::Status Chunker::PlaceHeld() {
  const size_t max = static_cast<size_t>(
      splitting_ ? std::min(limits_.max_bytes, std::max(limits_.target_bytes, kMinMaxBytes))
                 : limits_.max_bytes);
  // Bytes left for the row's values, its own tag and length set aside.
  const size_t avail = max > bytes_ + kFieldHeader ? max - bytes_ - kFieldHeader : 0;
  Row* out = chunk_->add_rows();
  size_t used = 0;
  for (; next_ < held_.values_size(); ++next_, offset_ = 0) {
    Value& v = *held_.mutable_values(next_);
    const std::string* text = CuttableText(v);
    if (text == nullptr) {
      // Scalars always fit: the text value before them left room for
      // them (below), and a row's first values fit any chunk but one
      // whose columns fill it.
      const size_t cost = FieldCost(v.ByteSizeLong());
      if (used + cost > avail) {
        chunk_->mutable_rows()->RemoveLast();
        return ResultTooLarge(
            absl::StrCat("a row's values cannot be cut to fit one message (--max_result_bytes=",
                         limits_.max_bytes, "); raise --max_result_bytes"),
            "max_result_bytes", limits_.max_bytes);
      }
      *out->add_values() = std::move(v);
      used += cost;
      continue;
    }
    // A text value goes in whole if the scalars after it (and an empty
    // piece of the next text value) fit too; otherwise it is cut, possibly
    // at its very end, so that the next chunk goes on with an empty piece.
    const size_t rest = text->size() - offset_;
    const size_t cost = FieldCost(TextValueSize(rest));
    if (used + cost + TailCost(next_) <= avail) {
      if (offset_ == 0) {
        *out->add_values() = std::move(v);
      } else {
        SetText(v.kind_case(), absl::string_view(*text).substr(offset_), out->add_values());
      }
      used += cost;
      continue;
    }
    if (!limits_.split_values) {
      chunk_->mutable_rows()->RemoveLast();
      return absl::InternalError("a row was to be split without accept_chunked_values");
    }
    // Cut: the longest piece whose value fits what is left (its tag and
    // two lengths take at most 12 bytes), ending between UTF-8 characters
    // for text. What is left is at least an empty piece's 4 bytes (the
    // value before left room for it).
    size_t n = avail - used > 2 * kFieldHeader ? avail - used - 2 * kFieldHeader : 0;
    n = std::min(n, rest);
    if (v.kind_case() != Value::kBytesValue) {
      while (n > 0 && n < rest &&
             (static_cast<unsigned char>((*text)[offset_ + n]) & 0xC0) == 0x80) {
        --n;
      }
    }
    SetText(v.kind_case(), absl::string_view(*text).substr(offset_, n), out->add_values());
    used += FieldCost(TextValueSize(n));
    offset_ += n;
    break;
  }
  bytes_ += FieldCost(used);
  if (next_ < held_.values_size()) {
    chunk_->set_chunked_value(true);
    full_ = true;
    return absl::OkStatus();
  }
  holding_ = false;
  splitting_ = false;
  held_.Clear();
  next_ = 0;
  offset_ = 0;
  return absl::OkStatus();
}

}  // namespace txgate::runner
