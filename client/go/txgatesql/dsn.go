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

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
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
//	token_file=PATH    a bearer token (README, "Security"), read once when
//	                   the DSN is opened; surrounding whitespace is trimmed.
//	                   With tls=false the token travels in cleartext.
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
		b, err := os.ReadFile(c.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("txgate: token_file: %w", err)
		}
		token := strings.TrimSpace(string(b))
		if token == "" {
			return nil, fmt.Errorf("txgate: token_file %s is empty", c.TokenFile)
		}
		opts = append(opts, grpc.WithPerRPCCredentials(bearer{token: token, secure: c.TLS}))
	}
	return opts, nil
}

// bearer sends `authorization: Bearer <token>` with every call.
type bearer struct {
	token  string
	secure bool
}

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

func (b bearer) RequireTransportSecurity() bool { return b.secure }
