package relay

import (
	"log/slog"
	"net/http"
	"strings"
)

// What the relay logs about a client: never a token or a signing secret
// (secrets are only ever compared, by hash), never a body, header values or
// query strings (where a client might put a token). Token ids (tok_…) are
// not secrets.

// clientAttrs is attrs followed by who made req: its remote address and, behind a trusted
// proxy, the first X-Forwarded-For entry (the proxy's own address is the
// remote then).
func (r *Relay) clientAttrs(req *http.Request, attrs ...any) []any {
	attrs = append(attrs, slog.String("remote", req.RemoteAddr))
	if r.cfg.TrustProxy {
		if f := strings.TrimSpace(strings.Split(req.Header.Get("X-Forwarded-For"), ",")[0]); f != "" {
			attrs = append(attrs, slog.String("forwarded_for", logText(f)))
		}
	}
	return attrs
}

// logText is a string a client sent, cut to a length fit for a log line.
func logText(s string) string {
	const maxLen = 80
	if len(s) <= maxLen {
		return s
	}
	return strings.ToValidUTF8(s[:maxLen], "") + "…"
}
