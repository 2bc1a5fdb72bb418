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
	// ListEvents returns the events q selects, newest first, or oldest
	// first (q.OldestFirst). The order is the events' Seq, so paging with
	// the last id as the next Before (After, oldest first) returns every
	// event exactly once. A cursor id that is not stored is
	// ErrNotFound. Records show wire.StateFailed for a delivered event
	// whose last answer was not 2xx (wire.RecordState).
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
	// Retry records a retryable answer to a pending event (resp; the
	// app's 5xx, 429, or none) and when it may be sent again: it stays
	// pending, its Retries count one more, and Pending reports next as its
	// NextAttempt. Asynchronous, like SetResponse.
	Retry(ctx context.Context, endpoint, id string, resp *capture.Response, next time.Time) error
	// Ack marks the event delivered; it is never pending again. A non-nil
	// resp is recorded in the same write (the usual response-then-ack),
	// and so are sent more delivery attempts (those of MarkSent, folded
	// in: an event sent and acked costs one write). They are counted
	// whatever the event's state, as MarkSent's would be.
	Ack(ctx context.Context, endpoint, id string, resp *capture.Response, at time.Time, sent int) error
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

	// PendingByEndpoint counts the pending events of every endpoint that
	// has any, most first (then by name). It reads an index of pending
	// events only, for metrics.
	PendingByEndpoint(ctx context.Context) ([]EndpointCount, error)

	// Ping checks, with one cheap query bounded by ctx, that the store can
	// serve: for readiness probes.
	Ping(ctx context.Context) error

	// Close flushes pending writes and releases the store.
	Close() error
}

// EndpointCount is a number of events of one endpoint.
type EndpointCount struct {
	Endpoint string
	Count    int
}

// CommitObserver is implemented by a store that reports its group commits,
// for metrics. The store does not know how they are counted.
type CommitObserver interface {
	// ObserveCommits sets fn, which is called on the store's writer
	// goroutine after each transaction of queued writes has committed or
	// failed. fn must not block or call the store. Set it before the first
	// write.
	ObserveCommits(fn func(Commit))
}

// Commit is one transaction of the store's writer.
type Commit struct {
	Writes   int           // writes it held
	Duration time.Duration // from its start until it was durable, or failed
	Err      error         // nil when it committed
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
	// process inserted events, it calls fn with a Pending without an
	// Event, naming the endpoint in Pending.Endpoint, or "" when it cannot
	// tell which (every endpoint), before announcing its own later events:
	// a listener that relies on the notices must read Pending again for
	// that endpoint. A backend shared by several nodes (Cluster) sends
	// such a notice promptly, from another goroutine than its writer's;
	// one shared only by admin commands sees it at its next insert at the
	// latest.
	NotifyCommitted(fn func(Pending))
}

// EarlyNotifier is implemented by a Notifier that can also announce each
// new pending event before its commit is durable, once its Seq is fixed, so
// the relay can hand it to the connected CLI while the commit is in flight.
type EarlyNotifier interface {
	Notifier
	// NotifyWritten sets written and failed. written is called for every
	// event stored by InsertEvent once its Seq is fixed and before it is
	// durable, in Seq order, with the same rules as the NotifyCommitted
	// fn (one goroutine at a time, must not block or call the store).
	// Every event announced so is then settled before any later event is
	// announced: by the NotifyCommitted fn once durable, or by failed when
	// its commit fails, and InsertEvent returns the error. A Seq announced
	// and then failed may be given to a later event. Set it before the
	// first InsertEvent; nil functions turn the early notices off.
	NotifyWritten(written func(Pending), failed func(Pending, error))
}

// Cluster is implemented by a store that several relay nodes share (one
// PostgreSQL database). What a single relay keeps in memory it keeps in the
// database instead: which session holds each endpoint (a lease), and the
// app's answers to senders waiting on other nodes. A store that implements
// Cluster also implements Notifier, and reports other nodes' inserts per
// endpoint through it.
type Cluster interface {
	// Node is this store's node id, unique among the nodes sharing the
	// database for the life of the store.
	Node() string
	// Claim makes l.Session the one session of l.Endpoint across the
	// cluster and returns its lease (Node and Epoch set). A newer claim
	// always wins: the node of the lease it takes over is told
	// (ClusterHandler.Replaced) and ends that session. The store renews
	// its claimed leases until Release.
	Claim(ctx context.Context, l Lease) (Lease, error)
	// Release gives up the lease of session on endpoint, if it still
	// holds it.
	Release(ctx context.Context, endpoint, session string) error
	// Lease returns the live lease of endpoint, or ErrNotFound when no
	// session holds it (none, released, or its node stopped renewing).
	Lease(ctx context.Context, endpoint string) (Lease, error)
	// PublishResponse hands the app's answer to event id of endpoint to
	// the node whose sender waits for it (ClusterHandler.Response there).
	// Nobody waiting is not an error: the response is stored by Ack or
	// SetResponse as usual.
	PublishResponse(ctx context.Context, endpoint, id string, resp *capture.Response) error
	// RunCluster listens for other nodes and renews leases until ctx
	// ends, calling h; it returns only after its goroutines have stopped.
	// It keeps trying while the database is unreachable: after a lost
	// connection it notifies every endpoint (Notifier, Endpoint ""), since
	// notices sent meanwhile are gone.
	RunCluster(ctx context.Context, h ClusterHandler) error
}

// ClusterHandler receives what other nodes say. Its methods must not block
// for long: they run on the store's listening goroutine.
type ClusterHandler interface {
	// Replaced: a newer session took endpoint's lease; session (held on
	// this node, if still running) must end.
	Replaced(endpoint, session string)
	// Response is an answer for a sender waiting on this node.
	Response(endpoint, id string, resp *capture.Response)
}

// Lease says which session holds an endpoint across the cluster.
type Lease struct {
	Endpoint string
	Session  string
	Node     string
	Epoch    int64 // grows with every claim of the endpoint
	// Reply is the session's reply mode: a sender on any node is answered
	// as the CLI asked.
	Reply   wire.ReplyOptions
	Expires time.Time
}

// ListQuery filters ListEvents.
type ListQuery struct {
	Endpoint string // only this endpoint; "" = all
	Owner    string // only endpoints owned by this token id; "" = any owner
	Before   string // only events older than this event id; "" = from the newest
	After    string // only events newer than this event id
	// OldestFirst lists in delivery order instead of newest first.
	OldestFirst bool
	// State is wire.StatePending, StateDelivered or StateFailed (as
	// wire.RecordState shows it); "" = any.
	State string
	Since time.Time // only events received at or after this; zero = any
	Until time.Time // only events received before this; zero = any
	Limit int       // at most this many; <= 0 means 50
}

// Pending is a pending event and its position in the delivery order.
//
// Within an endpoint, Seq order is commit order: a reader that has seen
// Seq n of an endpoint will never later see a lower Seq of it appear. So a
// cursor (Store.Pending's after) skips nothing, whichever node committed.
type Pending struct {
	Seq   int64
	Event *capture.Request
	// Retries is the retryable answers recorded so far (Retry), and
	// NextAttempt when the event may be sent again; zero: now.
	Retries     int
	NextAttempt time.Time
	// Endpoint, in a notice without an Event (Notifier), is the endpoint
	// that has new events; "" means any.
	Endpoint string
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
