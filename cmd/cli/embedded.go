package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel"
)

// embeddedPort is where the embedded relay listens on 127.0.0.1, so that its
// webhook URLs stay the same from one run to the next. HOOKCTL_EMBEDDED_PORT
// changes it (only the port: an open relay stays on loopback).
const embeddedPort = "8787"

// embeddedAddr is the embedded relay's address for f.
func embeddedAddr(f *Factory) (string, error) {
	port := embeddedPort
	if p := strings.TrimSpace(f.Getenv("HOOKCTL_EMBEDDED_PORT")); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", &FlagError{Err: fmt.Errorf("HOOKCTL_EMBEDDED_PORT %q: want a port number from 1 to 65535", p)}
		}
		port = p
	}
	return net.JoinHostPort("127.0.0.1", port), nil
}

// embeddedRelay is the relay hookctl runs in-process when none is configured.
type embeddedRelay struct {
	URL string
	// Fallback is set when the usual address (Usual, 127.0.0.1:8787) was
	// taken and the relay runs on another port: probably another hookctl
	// listen shares the store, so this one must not take over its endpoint.
	Fallback bool
	Usual    string
	close    func() error
}

// Close shuts the relay down and closes its store.
func (e *embeddedRelay) Close() error { return e.close() }

// embeddedDB opens the embedded relay's SQLite store in f.DataPath().
func embeddedDB(f *Factory) (*sqlite.Store, string, error) {
	dir, err := f.DataPath()
	if err != nil {
		return nil, "", fmt.Errorf("find data directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, "", fmt.Errorf("embedded relay: %w", err)
	}
	path := filepath.Join(dir, "relay.db")
	st, err := sqlite.Open(path)
	if err != nil {
		return nil, "", fmt.Errorf("embedded relay: %w", err)
	}
	return st, path, nil
}

// startEmbedded runs an open relay on 127.0.0.1:8787 (or, if that port is
// taken, an ephemeral loopback port, reported by Fallback: the caller says
// so or gives up) until Close.
func startEmbedded(ctx context.Context, f *Factory) (*embeddedRelay, error) {
	addr, err := embeddedAddr(f)
	if err != nil {
		return nil, err
	}
	st, _, err := embeddedDB(f)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	fallback := errors.Is(err, syscall.EADDRINUSE)
	if fallback {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("embedded relay: %w", err)
	}
	r, err := relay.New(relay.Config{
		Open:   true,
		Logger: slog.New(slog.DiscardHandler),
		Now:    f.Now,
	}, st)
	if err != nil {
		ln.Close()
		st.Close()
		return nil, err
	}
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- r.Serve(sctx, ln) }()
	return &embeddedRelay{
		URL:      "http://" + ln.Addr().String(),
		Fallback: fallback,
		Usual:    addr,
		close: func() error {
			cancel()
			err := <-done
			return errors.Join(err, st.Close())
		},
	}, nil
}

// openEmbeddedAPI serves the relay API in-process over the embedded relay's
// store, without listening anywhere. Reading the store directly (rather
// than calling a running `hookctl listen`) works whether or not listen is
// running; SQLite's WAL lets this reader and a running relay share the file.
// It goes through the relay's own HTTP handlers so the answers are exactly
// those of a remote relay.
func openEmbeddedAPI(_ context.Context, f *Factory) (*tunnel.APIClient, func(), error) {
	st, _, err := embeddedDB(f)
	if err != nil {
		return nil, nil, err
	}
	r, err := relay.New(relay.Config{Open: true, Logger: slog.New(slog.DiscardHandler), Now: f.Now}, st)
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	api, err := tunnel.NewAPIClient("http://embedded.invalid", "")
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return api.WithHandler(r), func() { st.Close() }, nil
}

// embeddedFallback decides what listen does when the embedded relay could
// not have its usual port. Another listen probably runs the usual relay on
// the same store: taking the remembered endpoint would steal its events, and
// a new name would silently change the webhook URL. So without --endpoint
// listen stops with a hint; with one, the name stays and only the port
// changes, said on stderr.
func embeddedFallback(warn io.Writer, emb *embeddedRelay, remembered bool, endpoint string) error {
	if remembered {
		return WithHint(fmt.Errorf("the embedded relay's address %s is in use (another hookctl listen?), so the webhook URL cannot stay the same", emb.Usual),
			"stop the other listen; or give --endpoint NAME to run on another port with that name; or set HOOKCTL_EMBEDDED_PORT to another port")
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(emb.URL, "http://"))
	fmt.Fprintf(warn, "warning: %s is in use (another hookctl listen?); the embedded relay runs on port %s instead: endpoint %s keeps its name, only the URL's port differs\n", emb.Usual, port, endpoint)
	return nil
}
