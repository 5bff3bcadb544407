package txgate

import (
	"context"
	"errors"
	"io"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/txgate/txgate/client/go/txgatev1"
)

// Rows iterates the rows of a StreamQuery, chunk by chunk:
//
//	rows, err := c.StreamQuery(ctx, "SELECT * FROM big", nil, 0)
//	if err != nil { ... }
//	defer rows.Close()
//	for rows.Next() { use(rows.Values()) }
//	if err := rows.Err(); err != nil { ... }
type Rows struct {
	stream  txgatev1.DatabaseService_StreamQueryClient
	cancel  context.CancelFunc
	columns []*txgatev1.Column
	pending []*txgatev1.Row
	current []any
	chunks  int
	warns   uint32
	done    bool
	err     error
	// A row split across chunks (StreamQueryResponse.chunked_value): its
	// complete values, and the bytes of its last value so far.
	split *txgatev1.Row
	kind  int
	buf   []byte
}

// StreamQuery runs one query and streams its rows; maxRowsPerChunk 0 uses
// the server's default. Close the Rows (or cancel ctx) to stop early. It
// carries the client's read options (routing, the latest write's token).
func (c *Client) StreamQuery(ctx context.Context, sql string, params []any, maxRowsPerChunk uint32) (*Rows, error) {
	vals, err := Values(params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	// Rows larger than one message come split (chunked values); Rows joins
	// them, so every row arrives whole.
	stream, err := c.stub.StreamQuery(ctx, &txgatev1.StreamQueryRequest{
		Sql: sql, Params: vals, MaxRowsPerChunk: maxRowsPerChunk, AcceptChunkedValues: true,
		Read: c.readOptions(txgatev1.ReadRouting_READ_ROUTING_UNSPECIFIED)})
	if err != nil {
		cancel()
		return nil, FromError(err)
	}
	return &Rows{stream: stream, cancel: cancel}, nil
}

// Next advances to the next row; false at the end or on an error (see Err).
func (r *Rows) Next() bool {
	for len(r.pending) == 0 {
		if r.err != nil || r.stream == nil {
			return false
		}
		chunk, err := r.stream.Recv()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				r.err = FromError(err)
			}
			r.finish()
			return false
		}
		r.chunks++
		if len(chunk.GetColumns()) > 0 {
			r.columns = chunk.GetColumns()
		}
		rows, err := r.join(chunk)
		if err == nil && chunk.GetDone() && r.split != nil {
			err = status.Error(codes.Internal, "the stream ended inside a chunked value")
		}
		if err != nil {
			r.err = FromError(err)
			r.finish()
			return false
		}
		if chunk.GetDone() {
			r.done = true
			r.warns = chunk.GetWarningCount()
		}
		r.pending = rows
	}
	r.current = RowValues(r.pending[0])
	r.pending = r.pending[1:]
	return true
}

// Values returns the current row's values (see FromValue).
func (r *Rows) Values() []any { return r.current }

// Map returns the current row keyed by column name (see Result.RowMap).
func (r *Rows) Map() map[string]any { return rowMap(r.columns, r.current) }

// Err returns the error that ended the stream, if any.
func (r *Rows) Err() error { return r.err }

// Columns returns the column metadata (known after the first Next).
func (r *Rows) Columns() []*txgatev1.Column { return r.columns }

// Chunks returns how many chunks have arrived.
func (r *Rows) Chunks() int { return r.chunks }

// Done reports whether the last chunk has arrived.
func (r *Rows) Done() bool { return r.done }

// WarningCount is the statement's warning count, set by the last chunk.
func (r *Rows) WarningCount() uint32 { return r.warns }

// Close stops the stream (the server stops the query) unless it has ended.
func (r *Rows) Close() error {
	r.finish()
	return nil
}

func (r *Rows) finish() {
	if r.stream != nil {
		r.cancel()
		r.stream = nil
		r.pending = nil
	}
}

// The kinds of value that may be split across chunks.
const (
	kindOther = iota
	kindString
	kindBytes
	kindJSON
)

func textOf(v *txgatev1.Value) (int, []byte) {
	switch k := v.GetKind().(type) {
	case *txgatev1.Value_StringValue:
		return kindString, []byte(k.StringValue)
	case *txgatev1.Value_BytesValue:
		return kindBytes, k.BytesValue
	case *txgatev1.Value_JsonValue:
		return kindJSON, []byte(k.JsonValue)
	}
	return kindOther, nil
}

func joinedValue(kind int, b []byte) *txgatev1.Value {
	switch kind {
	case kindString:
		return &txgatev1.Value{Kind: &txgatev1.Value_StringValue{StringValue: string(b)}}
	case kindBytes:
		return &txgatev1.Value{Kind: &txgatev1.Value_BytesValue{BytesValue: b}}
	}
	return &txgatev1.Value{Kind: &txgatev1.Value_JsonValue{JsonValue: string(b)}}
}

// join returns the rows that end in chunk, joining the pieces of values
// split across chunks.
func (r *Rows) join(chunk *txgatev1.StreamQueryResponse) ([]*txgatev1.Row, error) {
	rows := chunk.GetRows()
	out := make([]*txgatev1.Row, 0, len(rows))
	for i, row := range rows {
		vals := row.GetValues()
		cut := chunk.GetChunkedValue() && i == len(rows)-1
		if i == 0 && r.split != nil {
			if len(vals) == 0 {
				return nil, status.Error(codes.Internal, "a chunked value's next piece is missing")
			}
			kind, piece := textOf(vals[0])
			if kind != r.kind {
				return nil, status.Error(codes.Internal, "a chunked value's next piece is of another kind")
			}
			r.buf = append(r.buf, piece...)
			if cut && len(vals) == 1 {
				continue // the value goes on in the next chunk
			}
			joined := r.split
			joined.Values = append(joined.Values, joinedValue(r.kind, r.buf))
			joined.Values = append(joined.Values, vals[1:]...)
			r.split, r.buf = nil, nil
			row, vals = joined, joined.Values
		}
		if cut {
			kind, piece := textOf(vals[len(vals)-1])
			if kind == kindOther {
				return nil, status.Error(codes.Internal, "a chunked value that is not text or bytes")
			}
			r.kind = kind
			r.buf = append([]byte(nil), piece...)
			r.split = &txgatev1.Row{Values: append([]*txgatev1.Value(nil), vals[:len(vals)-1]...)}
			continue
		}
		out = append(out, row)
	}
	return out, nil
}
