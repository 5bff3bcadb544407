// The code-generation plugins client/generate.sh runs, pinned as `tool`
// dependencies (go tool -n protoc-gen-go). A module of their own: the `tool`
// directive needs go 1.24 and protoc-gen-go-grpc v1.6.1 itself says go
// 1.24.0, which would otherwise force every user of the client module up to
// Go 1.24. Nothing imports this module.
module github.com/txgate/txgate/client/go/tools

go 1.24.0

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
