package txgatesql_test

// The DSN's TLS, mutual TLS and token parameters against a txgate started
// here with a certificate, a client CA and a tokens file (TXGATE_BUILD_DIR,
// TXGATE_TEST_DB_DIR, TXGATE_TEST_MYSQL_PORT; set by tests/clients/run.sh).

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"database/sql"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/url"
	"os"
	osexec "os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/txgate/txgate/client/go/txgate"
)

// writeCert writes a certificate (signed by parent, or self-signed) and its
// key as PEM files dir/name.pem and dir/name-key.pem.
func writeCert(t *testing.T, dir, name string, tmpl *x509.Certificate, parent *x509.Certificate,
	parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pem"),
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+"-key.pem"),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert, key
}

func TestLiveSQLTLSAndToken(t *testing.T) {
	build, dbDir, mysqlPort := os.Getenv("TXGATE_BUILD_DIR"), os.Getenv("TXGATE_TEST_DB_DIR"),
		os.Getenv("TXGATE_TEST_MYSQL_PORT")
	if build == "" || dbDir == "" || mysqlPort == "" {
		t.Skip("TXGATE_BUILD_DIR, TXGATE_TEST_DB_DIR or TXGATE_TEST_MYSQL_PORT not set")
	}
	dir := t.TempDir()
	now := time.Now()
	ca, caKey := writeCert(t, dir, "ca", &x509.Certificate{SerialNumber: big.NewInt(1),
		Subject: pkix.Name{CommonName: "txgate test CA"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	writeCert(t, dir, "server", &x509.Certificate{SerialNumber: big.NewInt(2),
		Subject: pkix.Name{CommonName: "txgate"}, DNSNames: []string{"txgate.test"},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	writeCert(t, dir, "client", &x509.Certificate{SerialNumber: big.NewInt(3),
		Subject: pkix.Name{CommonName: "app"}, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature}, ca, caKey)
	const token, rotated = "go-driver-test-token-0123456789abcdef", "go-driver-test-token-rotated-0123456789abcdef"
	sum, sum2 := sha256.Sum256([]byte(token)), sha256.Sum256([]byte(rotated))
	if err := os.WriteFile(filepath.Join(dir, "tokens"), []byte(hex.EncodeToString(sum[:])+" rw go-test\n"+
		hex.EncodeToString(sum2[:])+" rw go-test-rotated\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	password, err := os.ReadFile(filepath.Join(dbDir, "password"))
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	logDir := os.Getenv("TXGATE_LOG_DIR")
	if logDir == "" {
		logDir = os.TempDir()
	}
	log, err := os.Create(filepath.Join(logDir, "txgate-go-tls.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := osexec.Command(filepath.Join(build, "txgate-server"), "--listen="+addr, "--mysql_port="+mysqlPort,
		"--mysql_user=txgate", "--mysql_database=txgate",
		"--tls_cert_file="+filepath.Join(dir, "server.pem"), "--tls_key_file="+filepath.Join(dir, "server-key.pem"),
		"--tls_client_ca_file="+filepath.Join(dir, "ca.pem"), "--auth_tokens_file="+filepath.Join(dir, "tokens"))
	cmd.Env = append(os.Environ(), "TXGATE_MYSQL_PASSWORD="+strings.TrimSpace(string(password)))
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
		log.Close()
	})

	q := url.Values{}
	q.Set("ca_file", filepath.Join(dir, "ca.pem"))
	q.Set("cert_file", filepath.Join(dir, "client.pem"))
	q.Set("key_file", filepath.Join(dir, "client-key.pem"))
	q.Set("token_file", filepath.Join(dir, "token"))
	open := func(q url.Values) *sql.DB {
		db, err := sql.Open("txgate", "txgate://"+addr+"?"+q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	db := open(q)
	// txgate serves once its pool is up: wait until a query answers.
	var lastErr error
	ready := false
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var one int
		if lastErr = db.QueryRowContext(ctx, "SELECT 1").Scan(&one); lastErr == nil {
			ready = true
			break
		}
	}
	if !ready {
		t.Fatalf("TLS + client certificate + token: %v (log: %s)", lastErr, log.Name())
	}

	// server_name: the certificate's DNS name, verified instead of the IP.
	named := url.Values{}
	for k, v := range q {
		named[k] = v
	}
	named.Set("server_name", "txgate.test")
	if err := open(named).PingContext(ctx); err != nil {
		t.Fatalf("server_name: %v", err)
	}
	named.Set("server_name", "other.test")
	if err := open(named).PingContext(ctx); err == nil {
		t.Fatal("a certificate for another name was accepted")
	}

	// The token file is read again when it changes: an unknown token is
	// refused from the next call on, the rotated one served.
	for _, tc := range []struct {
		token string
		code  codes.Code
	}{{"unknown-token", codes.Unauthenticated}, {rotated, codes.OK}} {
		if err := os.WriteFile(filepath.Join(dir, "token"), []byte(tc.token+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := db.PingContext(ctx); status(err) != tc.code {
			t.Fatalf("token file rewritten with %q: %v, want %s", tc.token, err, tc.code)
		}
	}
	if err := os.Remove(filepath.Join(dir, "token")); err != nil {
		t.Fatal(err)
	}
	// Exec carries a key, so a transport UNAVAILABLE would be re-sent for
	// its 30 s: a missing token is UNAUTHENTICATED, answered at once
	// (bound: well under that timeout).
	start := time.Now()
	if _, err := db.ExecContext(ctx, "SELECT 1"); status(err) != codes.Unauthenticated || time.Since(start) > 5*time.Second {
		t.Fatalf("token file removed: %v after %v, want UNAUTHENTICATED at once", err, time.Since(start))
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	// Without the token: UNAUTHENTICATED.
	noToken := url.Values{}
	for k, v := range q {
		noToken[k] = v
	}
	noToken.Del("token_file")
	err = open(noToken).PingContext(ctx)
	var e *txgate.Error
	if !errors.As(err, &e) || e.Code != codes.Unauthenticated {
		t.Fatalf("without a token: %v", err)
	}
	// Without a client certificate, or trusting another CA: refused.
	noCert := url.Values{}
	for k, v := range q {
		noCert[k] = v
	}
	noCert.Del("cert_file")
	noCert.Del("key_file")
	if err := open(noCert).PingContext(ctx); err == nil {
		t.Fatal("no client certificate, yet served")
	}
	if err := open(url.Values{"token_file": {filepath.Join(dir, "token")}}).PingContext(ctx); err == nil {
		t.Fatal("txgate's certificate verified against the system roots")
	}
}
