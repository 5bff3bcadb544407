package txgate

import (
	"context"
	"errors"
	"io"

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
}

// StreamQuery runs one query and streams its rows; maxRowsPerChunk 0 uses
// the server's default. Close the Rows (or cancel ctx) to stop early.
func (c *Client) StreamQuery(ctx context.Context, sql string, params []any, maxRowsPerChunk uint32) (*Rows, error) {
	vals, err := Values(params)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	stream, err := c.stub.StreamQuery(ctx, &txgatev1.StreamQueryRequest{
		Sql: sql, Params: vals, MaxRowsPerChunk: maxRowsPerChunk})
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
		if chunk.GetDone() {
			r.done = true
			r.warns = chunk.GetWarningCount()
		}
		r.pending = chunk.GetRows()
	}
	r.current = RowValues(r.pending[0])
	r.pending = r.pending[1:]
	return true
}

// Values returns the current row's values (see FromValue).
func (r *Rows) Values() []any { return r.current }

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
