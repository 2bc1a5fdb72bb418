-- Initial schema. Times are Unix nanoseconds, UTC, as in the SQLite store.
-- Strings that may hold any bytes (path, query, host) are bytea: text
-- refuses NUL and bytes that are not UTF-8.
CREATE TABLE tokens (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	hash       bytea NOT NULL UNIQUE, -- SHA-256 of the secret
	created_at bigint NOT NULL
);

CREATE TABLE endpoints (
	name       text PRIMARY KEY,
	owner      text NOT NULL DEFAULT '', -- token id; '' when created in open mode
	created_at bigint NOT NULL
);
CREATE INDEX endpoints_owner ON endpoints (owner);

CREATE TABLE events (
	-- Delivery order. Inserts of one endpoint hold a lock on it until they
	-- commit, so within an endpoint seq order is commit order.
	seq          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	id           text NOT NULL UNIQUE,
	endpoint     text NOT NULL,
	received_at  bigint NOT NULL,
	method       text NOT NULL,
	path         bytea NOT NULL,
	query        bytea NOT NULL,
	force_query  boolean NOT NULL DEFAULT false,
	headers      text NOT NULL, -- JSON capture.Headers
	body         bytea NOT NULL,
	host         bytea NOT NULL,
	proto        text NOT NULL,
	remote_addr  text NOT NULL,
	replay_of    text NOT NULL DEFAULT '',
	state        text NOT NULL, -- pending | delivered
	attempts     integer NOT NULL DEFAULT 0,
	response     text, -- JSON capture.Response
	delivered_at bigint,
	raw          text -- JSON capture.Request.Raw; NULL when every string is UTF-8
);
CREATE INDEX events_pending ON events (endpoint, seq) WHERE state = 'pending';
CREATE INDEX events_endpoint ON events (endpoint, seq);
CREATE INDEX events_received ON events (received_at);

-- Which session holds each endpoint across the nodes (store.Lease).
CREATE TABLE endpoint_leases (
	endpoint   text PRIMARY KEY,
	session    text NOT NULL,
	node       text NOT NULL,
	epoch      bigint NOT NULL,
	reply      text NOT NULL, -- JSON wire.ReplyOptions
	expires_at timestamptz NOT NULL
);
CREATE INDEX endpoint_leases_node ON endpoint_leases (node);
