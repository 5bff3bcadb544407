// The txgate database/sql driver used through sqlx (github.com/jmoiron/sqlx),
// an existing database/sql library, as an application would. A module of its
// own so that sqlx (and the drivers its go.mod names) never reach the
// client module's requirements. Run by tests/clients/run.sh.
module txgate.test/clients/go/sqlx

go 1.23.0

replace github.com/txgate/txgate/client/go => ../../../../client/go

require (
	github.com/jmoiron/sqlx v1.4.0
	github.com/txgate/txgate/client/go v0.0.0-00010101000000-000000000000
)

require (
	github.com/google/uuid v1.6.0 // indirect
	golang.org/x/net v0.32.0 // indirect
	golang.org/x/sys v0.28.0 // indirect
	golang.org/x/text v0.21.0 // indirect
	google.golang.org/genproto/googleapis/rpc v0.0.0-20241202173237-19429a94021a // indirect
	google.golang.org/grpc v1.70.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
