package relay

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// DefaultRevokeCheck is how often a relay looks for revoked tokens among its
// connected sessions. A token is revoked by another process (`relay-server
// token revoke` on the same database), so the relay cannot be told; it asks
// the store. One query per check serves every session, so the cost does not
// grow with the number of idle CLIs, and 10 s bounds how long a revoked CLI
// keeps receiving — the same order as the keepalive's dead-peer time.
const DefaultRevokeCheck = 10 * time.Second

// runRevocation ends the sessions of revoked tokens every RevokeCheck until
// ctx ends. New hellos and API calls need no check: they authenticate
// against the store each time.
func (r *Relay) runRevocation(ctx context.Context) {
	if r.cfg.Open {
		return
	}
	t := time.NewTicker(r.cfg.RevokeCheck)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if err := r.endRevoked(ctx); err != nil && ctx.Err() == nil {
			r.log.Error("revocation check", "err", err)
		}
	}
}

// endRevoked ends every session whose token is no longer in the store with
// a permanent unauthorized error.
func (r *Relay) endRevoked(ctx context.Context) error {
	// Sessions are taken before the store is read: each one's token was
	// valid at its hello, before this read began, so a token missing from
	// the read was revoked, not created after it.
	r.hub.mu.Lock()
	sessions := make([]*session, 0, len(r.hub.sessions))
	for _, s := range r.hub.sessions {
		if s.owner != "" {
			sessions = append(sessions, s)
		}
	}
	r.hub.mu.Unlock()
	if len(sessions) == 0 {
		return nil
	}
	toks, err := r.st.ListTokens(ctx)
	if err != nil {
		return err
	}
	live := make(map[string]bool, len(toks))
	for _, tok := range toks {
		live[tok.ID] = true
	}
	for _, s := range sessions {
		if live[s.owner] {
			continue
		}
		r.log.Info("listen: token revoked, ending session", r.clientAttrs(s.conn.Request(), "endpoint", s.endpoint, "session", s.id, "token", s.owner)...)
		s.finish(wire.Message{Type: wire.TypeError, Code: wire.CodeUnauthorized, Permanent: true,
			Text: "token revoked by the relay's operator"})
		s.cancel()
	}
	return nil
}

// RevokeToken revokes the token named by ref, its id or, when exactly one
// token has that name, its name, and returns it. Its endpoints keep their
// events and stay owned by the revoked id: no other token can take them.
func RevokeToken(ctx context.Context, st store.Store, ref string) (store.TokenInfo, error) {
	toks, err := st.ListTokens(ctx)
	if err != nil {
		return store.TokenInfo{}, err
	}
	var named []store.TokenInfo
	for _, tok := range toks {
		if tok.ID == ref {
			named = []store.TokenInfo{tok}
			break
		}
		if tok.Name == ref {
			named = append(named, tok)
		}
	}
	switch len(named) {
	case 0:
		return store.TokenInfo{}, fmt.Errorf("no token with id or name %q: %w", ref, store.ErrNotFound)
	case 1:
	default:
		var ids []string
		for _, tok := range named {
			ids = append(ids, tok.ID)
		}
		return store.TokenInfo{}, &AmbiguousError{Name: ref, IDs: ids}
	}
	if err := st.RevokeToken(ctx, named[0].ID); err != nil {
		return store.TokenInfo{}, err
	}
	return named[0], nil
}

// AmbiguousError is RevokeToken's answer when several tokens share a name.
type AmbiguousError struct {
	Name string
	IDs  []string
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("%d tokens are named %q (%s)", len(e.IDs), e.Name, strings.Join(e.IDs, ", "))
}
