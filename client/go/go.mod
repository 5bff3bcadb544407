// The Go client of txgate: generated stubs (txgatev1), the helper (txgate)
// and the database/sql driver (txgatesql). Apache-2.0 (LICENSE).
//
// The go directive is the highest of what the requirements below need, and
// each requirement is the lowest version that works (they are minimums:
// an application's newer versions win):
//   - google.golang.org/protobuf v1.36.12 (go 1.23): the runtime must be at
//     least the protoc-gen-go that generated txgatev1 (v1.36.12, pinned in
//     tools/go.mod); this sets go 1.23.
//   - google.golang.org/grpc v1.70.0 (go 1.22): the generated stubs need
//     v1.64+ (SupportPackageIsVersion9); v1.70.0 is what the tests run with.
//   - genproto/googleapis/rpc and golang.org/x/*: the versions grpc v1.70.0
//     requires (go 1.22 or lower); github.com/google/uuid v1.6.0 (no go line).
//   - this module's own code needs go 1.22 (math/rand/v2, range over int,
//     reflect.TypeFor, sql.Null[T]).
// The code-generation tools live in tools/go.mod, whose `tool` directive
// would force go 1.24 on every user.
module github.com/txgate/txgate/client/go

go 1.23.0

require (
	github.com/google/uuid v1.6.0
	google.golang.org/genproto/googleapis/rpc v0.0.0-20241202173237-19429a94021a
	google.golang.org/grpc v1.70.0
	google.golang.org/protobuf v1.36.12
)

require (
	golang.org/x/net v0.32.0 // indirect
	golang.org/x/sys v0.28.0 // indirect
	golang.org/x/text v0.21.0 // indirect
)
