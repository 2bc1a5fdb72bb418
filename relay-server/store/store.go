// Package store defines what the relay needs from durable storage: captured
// events with their delivery state, endpoints and tokens. The relay is the
// consumer, so the interface lives here; backends (SQLite now, Postgres
// later) live in sub-packages and all pass the contract suite in storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// Errors returned by every backend.
var (
	ErrNotFound = errors.New("not found")
	ErrExists   = errors.New("already exists")
)

// Store is durable storage for the relay. Every method is safe for
// concurrent use.
//
// Writes that the relay acknowledges to someone (InsertEvent, CreateToken,
// CreateEndpoint) return only once durable. Ack, SetResponse and MarkSent
// may be applied asynchronously, in call order after earlier writes: losing
// one in a crash only causes a redelivery, which at-least-once allows.
type Store interface {
	// InsertEvent stores a new pending event. It returns once the event is
	// durable. The event's Seq orders delivery.
	InsertEvent(ctx context.Context, ev *capture.Request) error
	// InsertDelivered stores an event that is already delivered (a replay
	// recorded by a CLI) with its response. It returns once durable.
	InsertDelivered(ctx context.Context, ev *capture.Request, resp *capture.Response, at time.Time) error
	// GetEvent returns one event with its delivery state.
	GetEvent(ctx context.Context, id string) (*wire.EventRecord, error)
	// ListEvents returns events newest first.
	ListEvents(ctx context.Context, q ListQuery) ([]wire.EventRecord, error)
	// Pending returns up to limit pending events of endpoint captured after
	// the cursor (0 = from the start), oldest first, with their cursors. It
	// stops early once the bodies read exceed maxBytes (0 = no limit), but
	// always returns at least one event when there is one.
	Pending(ctx context.Context, endpoint string, after int64, limit int, maxBytes int64) ([]Pending, error)
	// CountPending counts the pending events of endpoint.
	CountPending(ctx context.Context, endpoint string) (int, error)
	// MarkSent counts one more delivery attempt of each event.
	MarkSent(ctx context.Context, endpoint string, ids []string) error
	// SetResponse records the local app's answer to the event.
	SetResponse(ctx context.Context, endpoint, id string, resp *capture.Response) error
	// Ack marks the event delivered; it is never pending again. A non-nil
	// resp is recorded in the same write (the usual response-then-ack).
	Ack(ctx context.Context, endpoint, id string, resp *capture.Response, at time.Time) error
	// Flush returns once every write queued before it is durable, the
	// asynchronous ones included.
	Flush(ctx context.Context) error
	// DeleteBefore deletes delivered events received before t and reports
	// how many. Pending events are never deleted: a CLI that connects after
	// the retention period still gets every event captured for it.
	DeleteBefore(ctx context.Context, t time.Time) (int64, error)

	// CreateEndpoint registers a name; ErrExists when it is taken.
	CreateEndpoint(ctx context.Context, ep Endpoint) error
	// GetEndpoint returns a registered endpoint or ErrNotFound.
	GetEndpoint(ctx context.Context, name string) (Endpoint, error)

	// CreateToken stores a token by its hash.
	CreateToken(ctx context.Context, tok Token) error
	// TokenByHash finds a token by the SHA-256 of its secret, or ErrNotFound.
	TokenByHash(ctx context.Context, hash []byte) (Token, error)
	// ListTokens returns every token, oldest first, with the number of
	// endpoints it owns. Hashes are left out.
	ListTokens(ctx context.Context) ([]TokenInfo, error)
	// RevokeToken deletes token id, or returns ErrNotFound; TokenByHash no
	// longer finds it once RevokeToken returns. Its endpoints and their
	// events stay, still owned by id, so no other token can take them.
	RevokeToken(ctx context.Context, id string) error

	// ListEndpoints returns every registered endpoint, by name, with its
	// owner's token name and event counts.
	ListEndpoints(ctx context.Context) ([]EndpointInfo, error)
	// PurgeEvents deletes events of one endpoint and reports how many. Unlike
	// DeleteBefore it can delete pending events (q.Pending): an operator's
	// explicit choice. It may commit in several transactions, so concurrent
	// writers are not held up by a large purge.
	PurgeEvents(ctx context.Context, q PurgeQuery) (int64, error)

	// Close flushes pending writes and releases the store.
	Close() error
}

// Notifier is implemented by a store that reports each new pending event as
// it commits, so the relay can hand it to the connected CLI without reading
// it back. The store stays the queue: a relay may ignore notices and read
// Pending instead, and it must when it missed any.
type Notifier interface {
	// NotifyCommitted sets fn, which is called for every event stored by
	// InsertEvent once it is durable and before InsertEvent returns, in
	// Seq order, from one goroutine at a time. fn must not block or call
	// the store, nor wait for a lock that anyone holds while calling the
	// store: the store's writes wait for fn. Set it before the first
	// InsertEvent.
	//
	// Events written by other processes sharing the database are not
	// reported one by one. Instead, once the store sees that another
	// process inserted events since its own last insert, it calls fn with
	// a Pending without an Event, before announcing its next events: a
	// listener that relies on the notices must read Pending again. The
	// store sees this at its next insert at the latest.
	NotifyCommitted(fn func(Pending))
}

// ListQuery filters ListEvents.
type ListQuery struct {
	Endpoint string // only this endpoint; "" = all
	Owner    string // only endpoints owned by this token id; "" = any owner
	Before   string // only events older than this event id; "" = from the newest
	Limit    int    // at most this many; <= 0 means 50
}

// Pending is a pending event and its position in the delivery order.
type Pending struct {
	Seq   int64
	Event *capture.Request
}

// Endpoint is a registered endpoint name.
type Endpoint struct {
	Name      string
	Owner     string // token id; "" in open mode
	CreatedAt time.Time
}

// Token is an API token. The secret itself is never stored.
type Token struct {
	ID        string
	Name      string
	Hash      []byte // SHA-256 of the secret
	CreatedAt time.Time
}

// TokenInfo is a token as an operator lists it: never its secret or hash.
type TokenInfo struct {
	ID        string
	Name      string
	CreatedAt time.Time
	Endpoints int // endpoints it owns
}

// EndpointInfo is an endpoint with its owner's name and event counts.
type EndpointInfo struct {
	Endpoint
	// OwnerName is the owning token's name; "" when Owner is "" (open mode)
	// or the token was revoked.
	OwnerName   string
	Pending     int       // events not yet delivered
	Events      int       // all stored events, pending ones included
	LastEventAt time.Time // received-at of the newest event; zero when none
}

// PurgeQuery selects the events PurgeEvents deletes.
type PurgeQuery struct {
	Endpoint string    // required
	Before   time.Time // only events received before this; zero = any time
	Pending  bool      // delete undelivered events too
}
