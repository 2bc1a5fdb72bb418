package relaycmd_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// selfSigned writes a certificate for 127.0.0.1 and its key as PEM files.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "relay test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
	return certFile, keyFile, pool
}

func TestServeTLS(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	ctx, cancel := context.WithCancel(context.Background())
	stderr := &lineWriter{lines: make(chan string, 100)}
	done := make(chan int, 1)
	go func() {
		done <- relaycmd.Run(ctx, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir(), "--open",
			"--tls-cert", certFile, "--tls-key", keyFile}, io.Discard, stderr)
	}()
	base := waitURL(t, stderr.lines)
	if !strings.HasPrefix(base, "https://") {
		t.Fatalf("listening on %s, want https", base)
	}
	tlsCfg := &tls.Config{RootCAs: pool}
	tr := &http.Transport{TLSClientConfig: tlsCfg}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Post(base+"/h/secure/x", "text/plain", strings.NewReader("hi"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Errorf("ingress over TLS: %d", resp.StatusCode)
	}

	cfg, err := websocket.NewConfig(strings.Replace(base, "https", "wss", 1)+wire.ListenPath, base)
	if err != nil {
		t.Fatal(err)
	}
	cfg.TlsConfig = tlsCfg
	conn, err := websocket.DialConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	websocket.JSON.Send(conn, wire.Message{Type: wire.TypeHello, Version: wire.Version, Endpoint: "secure"})
	var m wire.Message
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if err := websocket.JSON.Receive(conn, &m); err != nil || m.Type != wire.TypeWelcome || m.URL != base+"/h/secure" || m.Pending != 1 {
		t.Errorf("welcome over TLS: %+v %v", m, err)
	}
	if err := websocket.JSON.Receive(conn, &m); err != nil || m.Type != wire.TypeEvent || m.Event.Proto != "https" || string(m.Event.Body) != "hi" {
		t.Errorf("event over TLS: %+v %v", m, err)
	}
	conn.Close()

	// Over HTTP/2 the listen path answers plainly instead of failing the
	// websocket library's hijack.
	h2 := &http.Transport{TLSClientConfig: tlsCfg, ForceAttemptHTTP2: true}
	defer h2.CloseIdleConnections()
	resp, err = (&http.Client{Transport: h2}).Get(base + wire.ListenPath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusHTTPVersionNotSupported {
		t.Errorf("listen over %s: %d", resp.Proto, resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("exit %d", code)
	}
}
