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
	"syscall"

	"github.com/hookctl/hookctl/relay-server/relay"
	"github.com/hookctl/hookctl/relay-server/store/sqlite"
	"github.com/hookctl/hookctl/tunnel"
)

// embeddedAddr is where the embedded relay listens, so that its webhook URLs
// stay the same from one run to the next.
const embeddedAddr = "127.0.0.1:8787"

// embeddedRelay is the relay hookctl runs in-process when none is configured.
type embeddedRelay struct {
	URL   string
	close func() error
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
// taken, an ephemeral loopback port, with a warning on warn) until Close.
func startEmbedded(ctx context.Context, f *Factory, warn io.Writer) (*embeddedRelay, error) {
	st, _, err := embeddedDB(f)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", embeddedAddr)
	if errors.Is(err, syscall.EADDRINUSE) {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			fmt.Fprintf(warn, "warning: %s is in use (another hookctl listen?); the embedded relay runs on %s, so the webhook URL differs from the usual one\n", embeddedAddr, ln.Addr())
		}
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
		URL: "http://" + ln.Addr().String(),
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
