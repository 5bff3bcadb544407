package txgatesql

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/txgate/txgate/client/go/txgate"
	"github.com/txgate/txgate/client/go/txgatev1"
)

// Config is a parsed data source name:
//
//	txgate://HOST:PORT[?PARAM=VALUE&...]
//
// Parameters (all optional):
//
//	tls=true|false     TLS to txgate (default true); false sends plaintext,
//	                   for a loopback or sidecar txgate only
//	ca_file=PATH       PEM roots to verify txgate's certificate (default:
//	                   the system's)
//	cert_file=PATH,    a client certificate and key (mutual TLS)
//	key_file=PATH
//	server_name=NAME   the name to verify in txgate's certificate (default:
//	                   HOST)
//	token_file=PATH    a bearer token (README, "Security"); surrounding
//	                   whitespace is trimmed. Read when the DSN is opened
//	                   (an error if missing or empty) and again whenever the
//	                   file changes (modification time or size), so a rotated
//	                   token is used from the next call on. With tls=false
//	                   the token travels in cleartext.
//	routing=primary|replica
//	                   where reads may run (default: txgate's --read_routing).
//	                   Read-your-writes holds per sql.DB: its connections
//	                   share one txgate.Client, which keeps the causality
//	                   token of the latest write any of them made and sends
//	                   it with every read (README, "Reads on replicas").
//
// HOST:PORT is the gRPC target (resolved by gRPC's default DNS resolver,
// every address it returns used round-robin); for another target or
// resolver, use NewConnector. Unknown parameters are an error, so a
// misspelt one is not silently ignored.
type Config struct {
	Target     string
	TLS        bool
	CAFile     string
	CertFile   string
	KeyFile    string
	ServerName string
	TokenFile  string
	Routing    txgatev1.ReadRouting
}

// ParseDSN parses a data source name (see Config).
func ParseDSN(dsn string) (*Config, error) {
	u, err := url.Parse(dsn)
	if err != nil {
		return nil, fmt.Errorf("txgate: bad DSN: %w", err)
	}
	if u.Scheme != "txgate" || u.Host == "" || (u.Path != "" && u.Path != "/") || u.User != nil {
		return nil, fmt.Errorf("txgate: bad DSN %q: want txgate://HOST:PORT?PARAMS", redact(u))
	}
	c := &Config{Target: u.Host, TLS: true}
	for k, vs := range u.Query() {
		v := vs[len(vs)-1]
		switch k {
		case "tls":
			if c.TLS, err = strconv.ParseBool(v); err != nil {
				return nil, fmt.Errorf("txgate: DSN parameter tls=%q: want true or false", v)
			}
		case "ca_file":
			c.CAFile = v
		case "cert_file":
			c.CertFile = v
		case "key_file":
			c.KeyFile = v
		case "server_name":
			c.ServerName = v
		case "token_file":
			c.TokenFile = v
		case "routing":
			if v == "" {
				return nil, fmt.Errorf("txgate: DSN parameter routing=\"\": want primary or replica")
			}
			if c.Routing, err = txgate.ParseRouting(v); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("txgate: unknown DSN parameter %q", k)
		}
	}
	if (c.CertFile == "") != (c.KeyFile == "") {
		return nil, fmt.Errorf("txgate: DSN needs both cert_file and key_file, or neither")
	}
	if !c.TLS && (c.CAFile != "" || c.CertFile != "" || c.ServerName != "") {
		return nil, fmt.Errorf("txgate: DSN has TLS parameters with tls=false")
	}
	return c, nil
}

func redact(u *url.URL) string {
	r := *u
	r.User = nil
	r.RawQuery = ""
	return r.String()
}

// DialOptions returns the gRPC dial options the configuration asks for
// (credentials and token); the service config is added by NewConnector.
func (c *Config) DialOptions() ([]grpc.DialOption, error) {
	var opts []grpc.DialOption
	if c.TLS {
		tc := &tls.Config{ServerName: c.ServerName, MinVersion: tls.VersionTLS12}
		if c.CAFile != "" {
			pem, err := os.ReadFile(c.CAFile)
			if err != nil {
				return nil, fmt.Errorf("txgate: ca_file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("txgate: ca_file %s holds no PEM certificate", c.CAFile)
			}
		}
		if c.CertFile != "" {
			cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
			if err != nil {
				return nil, fmt.Errorf("txgate: cert_file/key_file: %w", err)
			}
			tc.Certificates = []tls.Certificate{cert}
		}
		opts = append(opts, grpc.WithTransportCredentials(credentials.NewTLS(tc)))
	} else {
		opts = append(opts, grpc.WithTransportCredentials(insecure.NewCredentials()))
	}
	if c.TokenFile != "" {
		b := &bearer{path: c.TokenFile, secure: c.TLS}
		if _, err := b.current(); err != nil {
			return nil, err
		}
		opts = append(opts, grpc.WithPerRPCCredentials(b))
	}
	return opts, nil
}

// bearer sends `authorization: Bearer <token>` with every call, the token
// read from path and read again whenever the file's modification time or
// size changes (a rotated token is used from the next call on, without
// reopening the sql.DB).
type bearer struct {
	path   string
	secure bool

	mu    sync.Mutex
	token string
	mod   time.Time
	size  int64
}

func (b *bearer) current() (string, error) {
	fi, err := os.Stat(b.path)
	if err != nil {
		return "", fmt.Errorf("txgate: token_file: %w", err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.token != "" && fi.ModTime().Equal(b.mod) && fi.Size() == b.size {
		return b.token, nil
	}
	raw, err := os.ReadFile(b.path)
	if err != nil {
		return "", fmt.Errorf("txgate: token_file: %w", err)
	}
	token := strings.TrimSpace(string(raw))
	if token == "" {
		return "", fmt.Errorf("txgate: token_file %s is empty", b.path)
	}
	b.token, b.mod, b.size = token, fi.ModTime(), fi.Size()
	return token, nil
}

func (b *bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	token, err := b.current()
	if err != nil {
		// UNAUTHENTICATED, not the UNAVAILABLE grpc-go makes of a plain
		// error, which the driver would re-send until its timeout.
		return nil, status.Error(codes.Unauthenticated, err.Error())
	}
	return map[string]string{"authorization": "Bearer " + token}, nil
}

func (b *bearer) RequireTransportSecurity() bool { return b.secure }
