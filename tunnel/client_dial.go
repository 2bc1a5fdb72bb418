package tunnel

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"

	"golang.org/x/net/websocket"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
	"github.com/hookctl/hookctl/tunnel/wire/wsconn"
)

// listenURL derives the websocket URL and an origin from a relay URL.
func listenURL(relay string) (loc, origin *url.URL, err error) {
	u, err := url.Parse(strings.TrimSpace(relay))
	if err != nil {
		return nil, nil, fmt.Errorf("relay URL: %w", err)
	}
	if u.Host == "" {
		return nil, nil, fmt.Errorf("relay URL %q: want http(s)://host[:port]", relay)
	}
	ws, httpScheme := "", ""
	switch u.Scheme {
	case "http", "ws":
		ws, httpScheme = "ws", "http"
	case "https", "wss":
		ws, httpScheme = "wss", "https"
	default:
		return nil, nil, fmt.Errorf("relay URL %q: scheme must be http or https", relay)
	}
	loc = &url.URL{Scheme: ws, Host: u.Host, Path: strings.TrimSuffix(u.Path, "/") + wire.ListenPath}
	origin = &url.URL{Scheme: httpScheme, Host: u.Host}
	return loc, origin, nil
}

// dial opens the websocket over a wsconn.IdleConn, so that the keepalive deadline
// means "nothing received (or sent) for DeadAfter" rather than "no whole
// message within DeadAfter": a 25 MiB event on a slow link takes longer
// than that and must not look like a dead relay.
func (c *Client) dial(ctx context.Context) (*websocket.Conn, *wsconn.IdleConn, error) {
	host := c.location.Host
	if _, _, err := net.SplitHostPort(host); err != nil {
		port := "80"
		if c.location.Scheme == "wss" {
			port = "443"
		}
		host = net.JoinHostPort(host, port)
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.DeadAfter)
	defer cancel()
	d := &net.Dialer{}
	var nc net.Conn
	var err error
	if c.location.Scheme == "wss" {
		nc, err = (&tls.Dialer{NetDialer: d, Config: c.cfg.TLSConfig}).DialContext(dctx, "tcp", host)
	} else {
		nc, err = d.DialContext(dctx, "tcp", host)
	}
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			return nil, nil, fmt.Errorf("cannot reach the relay at %s: connection refused", c.location.Host)
		}
		return nil, nil, fmt.Errorf("connect to %s: %w", c.location.Host, err)
	}
	// The handshake has no context of its own: closing the connection
	// bounds it (and the idle deadline does too).
	stop := context.AfterFunc(dctx, func() { nc.Close() })
	defer stop()
	wcfg := &websocket.Config{Location: c.location, Origin: c.origin, Version: websocket.ProtocolVersionHybi13}
	if c.location.Scheme != "wss" {
		nc = capture.NewRawConn(nc)
	}
	ic := wsconn.NewIdleConn(nc, c.cfg.DeadAfter)
	ws, err := websocket.NewClient(wcfg, ic)
	if err != nil {
		nc.Close()
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if errors.Is(err, websocket.ErrBadStatus) {
			// An HTTP answer other than 101: usually --relay names the app
			// or another server, or a proxy in front of the relay refused.
			// Still retried: a proxy's 502 during a relay restart passes.
			return nil, nil, fmt.Errorf("%s refused the listen websocket with an HTTP error: is it a hookctl relay? (check --relay)", c.origin)
		}
		return nil, nil, fmt.Errorf("websocket handshake with %s: %w", c.location.Redacted(), err)
	}
	return ws, ic, nil
}
