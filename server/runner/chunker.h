// Result sizes as they go on the wire: the encoded size of response
// messages, and Chunker, which cuts a StreamQuery's rows into chunks that
// each stay within a bound, splitting a row too large for one chunk across
// several (StreamQueryResponse.chunked_value).
//
// Why encoded sizes: gRPC clients refuse a message whose encoded size is
// over their receive limit (4 MiB = 4194304 bytes by default, counted on
// the serialized protobuf), and a result's raw payload says too little
// about that: each value, row and result set adds its tag and length. Every
// bound here is on ByteSizeLong() of what is sent, so a bound under 4 MiB
// means no client with default settings fails on its own.
#ifndef TXGATE_SERVER_RUNNER_CHUNKER_H_
#define TXGATE_SERVER_RUNNER_CHUNKER_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "txgate/v1/database.pb.h"

namespace txgate::runner {

// The default bound of one response message's encoded size
// (--max_result_bytes): 64 KiB under gRPC's default receive limit of
// 4 MiB, so that a client with default settings never fails on its own.
inline constexpr int64_t kDefaultMaxMessageBytes = (int64_t{4} << 20) - (int64_t{64} << 10);

// The bytes a message of `size` encoded bytes adds to its parent as a
// length-delimited field with a one-byte tag (field numbers 1..15):
// tag + length varint + size.
size_t FieldCost(size_t size);

// RESOURCE_EXHAUSTED, reason RESULT_TOO_LARGE, metadata `limit` = `flag`
// and `value` = `limit`, with `message`.
absl::Status ResultTooLarge(absl::string_view message, absl::string_view flag, int64_t limit);

// The bounds of StreamQuery chunks.
struct ChunkLimits {
  // Rows begun in one chunk (a continued row counts as one).
  int64_t max_rows = 1000;
  // A chunk takes no further row once its encoded size reaches this (a soft
  // bound: the last row may go past it, up to max_bytes).
  int64_t target_bytes = 1 << 20;
  // No chunk's encoded size (StreamQueryResponse::ByteSizeLong) exceeds
  // this; at least 4 KiB (smaller values are raised to it).
  int64_t max_bytes = kDefaultMaxMessageBytes;
  // A row larger than max_bytes may be split across chunks (the request's
  // accept_chunked_values), in chunks of about target_bytes; otherwise it
  // is refused with RESULT_TOO_LARGE.
  bool split_values = false;
};

// Fills StreamQuery chunks from rows, one chunk at a time:
//
//   Chunker chunker(limits);
//   for each chunk:
//     (columns into the first chunk)
//     chunker.Begin(&chunk);             // places what is left of a split row
//     while (chunker.Room()) {
//       read a row, or end the stream (never while chunker.holding());
//       if (Status s = chunker.Add(std::move(row)); !s.ok()) fail;
//     }
//     send the chunk
//
// A row that fits beside the chunk's rows goes in whole; one that does not
// waits, whole, for the next chunk; only a row that cannot fit an empty
// chunk is split: its values go in order, the value that crosses the bound
// is cut (a string or JSON value between UTF-8 characters) and the chunk
// ends with chunked_value set; the next chunk's first row holds the rest.
// Only string, bytes and JSON values are ever cut; a row whose other
// values alone could not fit (impossible for MySQL's at most 4096 columns
// with max_bytes of 4 KiB and more) is refused with RESULT_TOO_LARGE.
// A row being split is held here (moved in, values moved out whole when
// they fit): its large value is copied out piece by piece, never as a
// whole, so a value of n bytes costs n bytes here plus one chunk.
class Chunker {
 public:
  explicit Chunker(ChunkLimits limits);

  // Starts filling `chunk`, which is empty or holds the columns only, and
  // must stay alive until the next Begin. Places what is left of a row
  // held from the previous chunk.
  absl::Status Begin(txgate::v1::StreamQueryResponse* chunk);

  // Whether the chunk takes another row (false once it is full).
  bool Room() const;

  // Adds `row`, or holds it for the next chunk, or (in an empty chunk) the
  // part of it that fits, holding the rest. RESULT_TOO_LARGE for a row too
  // large for one chunk when values may not be split.
  absl::Status Add(txgate::v1::Row row);

  // True while (part of) a row waits for the next chunk: the stream must
  // not end before it is sent.
  bool holding() const { return holding_; }

  // The limits in force (max_bytes raised to its minimum).
  const ChunkLimits& limits() const { return limits_; }

 private:
  // Places the held row from value `next_` (offset `offset_` into it) into
  // the chunk, which holds no row yet.
  absl::Status PlaceHeld();
  // The encoded size of the scalars after value `index` of the held row, up
  // to its next text value, and of an empty piece of that value.
  size_t TailCost(int index) const;

  ChunkLimits limits_;
  txgate::v1::StreamQueryResponse* chunk_ = nullptr;
  // The chunk's encoded size so far, with room for its scalar fields.
  size_t bytes_ = 0;
  bool full_ = false;

  bool holding_ = false;
  txgate::v1::Row held_;
  // held_ fits no message whole: it is cut into pieces of about
  // target_bytes (not max_bytes), so that a client gets each in a time
  // --stream_write_timeout allows even at a modest rate.
  bool splitting_ = false;
  int next_ = 0;       // index of the first value of held_ not yet sent
  size_t offset_ = 0;  // bytes of that value already sent (string kinds)
};

}  // namespace txgate::runner

#endif  // TXGATE_SERVER_RUNNER_CHUNKER_H_
