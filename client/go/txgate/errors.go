package txgate

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// ErrorDomain is the google.rpc.ErrorInfo domain of txgate's errors.
const ErrorDomain = "txgate.dev"

// ReasonCommitOutcomeUnknown is the ErrorInfo reason of an UNKNOWN status
// whose write may or may not have been applied.
const ReasonCommitOutcomeUnknown = "COMMIT_OUTCOME_UNKNOWN"

// ReasonExpectationFailed is the ErrorInfo reason of a FAILED_PRECONDITION
// status answered when a statement's result missed its expectation
// (Statement.Expect): the whole transaction was rolled back.
const ReasonExpectationFailed = "EXPECTATION_FAILED"

// Error is a failed txgate call: the gRPC status and its ErrorInfo detail.
// Every error the helpers return is an *Error (use errors.As), and
// status.Code / status.FromError work on it too.
type Error struct {
	Code    codes.Code
	Message string
	// From the google.rpc.ErrorInfo detail; empty when there is none (e.g. a
	// transport error that never reached txgate).
	Reason   string
	Domain   string
	Metadata map[string]string
	// The MySQL error, when the status carries one (MySQLErrno 0 otherwise).
	MySQLErrno   int
	SQLState     string
	MySQLMessage string
	// The idempotency key the failed call carried, if any: retry with it.
	IdempotencyKey string

	status *status.Status
}

func (e *Error) Error() string {
	s := fmt.Sprintf("txgate: %s: %s", e.Code, e.Message)
	if e.Reason != "" {
		s += " [" + e.Reason + "]"
	}
	return s
}

// GRPCStatus returns the original status (for status.FromError and status.Code).
func (e *Error) GRPCStatus() *status.Status { return e.status }

// OutcomeUnknown reports whether the call may or may not have been applied
// (code UNKNOWN, usually with reason COMMIT_OUTCOME_UNKNOWN).
func (e *Error) OutcomeUnknown() bool { return e.Code == codes.Unknown }

// ExpectationFailed reports whether a statement's expectation was not met
// (reason EXPECTATION_FAILED); nothing of the transaction was committed and
// its idempotency key was not used up. StatementIndex says which statement;
// Metadata["expectation"], ["expected"] and ["actual"] say how it missed.
func (e *Error) ExpectationFailed() bool { return e.Reason == ReasonExpectationFailed }

// StatementIndex is the 1-based index of the statement an error names (an
// unmet expectation's), or 0 when it names none.
func (e *Error) StatementIndex() int {
	n, err := strconv.Atoi(e.Metadata["statement_index"])
	if err != nil {
		return 0
	}
	return n
}

// Expectation is the name of the unmet expectation of an ExpectationFailed
// error ("affected_rows", "min_affected_rows", "max_affected_rows", "rows",
// "min_rows", "max_rows"), "" for another error.
func (e *Error) Expectation() string { return e.Metadata["expectation"] }

// Expected and Actual are the unmet expectation's bound and the statement's
// actual count (ok false for another error).
func (e *Error) Expected() (n uint64, ok bool) { return e.metadataUint("expected") }

// Actual: see Expected.
func (e *Error) Actual() (n uint64, ok bool) { return e.metadataUint("actual") }

func (e *Error) metadataUint(key string) (uint64, bool) {
	n, err := strconv.ParseUint(e.Metadata[key], 10, 64)
	return n, err == nil
}

// FromError converts an error of a gRPC call into an *Error (nil stays nil;
// an *Error is returned as is).
func FromError(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	st := status.Convert(err)
	e = &Error{Code: st.Code(), Message: st.Message(), status: st}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			e.Reason, e.Domain, e.Metadata = info.GetReason(), info.GetDomain(), info.GetMetadata()
			break
		}
	}
	if n, err := strconv.Atoi(e.Metadata["mysql_errno"]); err == nil {
		e.MySQLErrno = n
	}
	e.SQLState = e.Metadata["mysql_sqlstate"]
	e.MySQLMessage = e.Metadata["mysql_message"]
	return e
}

func withKey(err error, key string) *Error {
	e := FromError(err)
	e.IdempotencyKey = key
	return e
}
