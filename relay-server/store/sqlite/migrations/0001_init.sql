-- Initial schema. Times are Unix nanoseconds, UTC.
CREATE TABLE tokens (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	hash       BLOB NOT NULL UNIQUE, -- SHA-256 of the secret
	created_at INTEGER NOT NULL
);

CREATE TABLE endpoints (
	name       TEXT PRIMARY KEY,
	owner      TEXT NOT NULL DEFAULT '', -- token id; '' when created in open mode
	created_at INTEGER NOT NULL
);

CREATE TABLE events (
	seq          INTEGER PRIMARY KEY AUTOINCREMENT, -- delivery order, never reused
	id           TEXT NOT NULL UNIQUE,
	endpoint     TEXT NOT NULL,
	received_at  INTEGER NOT NULL,
	method       TEXT NOT NULL,
	path         TEXT NOT NULL,
	query        TEXT NOT NULL,
	headers      TEXT NOT NULL, -- JSON capture.Headers
	body         BLOB NOT NULL,
	host         TEXT NOT NULL,
	proto        TEXT NOT NULL,
	remote_addr  TEXT NOT NULL,
	replay_of    TEXT NOT NULL DEFAULT '',
	state        TEXT NOT NULL, -- pending | delivered
	attempts     INTEGER NOT NULL DEFAULT 0,
	response     TEXT, -- JSON capture.Response
	delivered_at INTEGER
);

CREATE INDEX events_pending ON events (endpoint, seq) WHERE state = 'pending';
CREATE INDEX events_endpoint ON events (endpoint, seq);
CREATE INDEX events_received ON events (received_at);
