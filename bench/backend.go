package main

import (
	"context"
	"fmt"
	"io"
	"net/url"

	"github.com/jackc/pgx/v5"

	"github.com/hookctl/hookctl/relay-server/store/pgserver"
)

// backend is where a scenario's relays keep their state.
type backend struct {
	name  string   // "sqlite" or "postgres"
	nodes int      // relay processes
	admin *url.URL // postgres: the server, where each scenario's database is created
	pgPID int      // postgres: the server's process when this program started it, for its CPU time
}

// startPostgres starts a throwaway PostgreSQL server (-postgres) or checks
// the one -database names, and says which it is.
func startPostgres(ctx context.Context, o *Options, tmp string, log io.Writer) (backend, string, func(), error) {
	be := backend{name: "postgres", nodes: o.Nodes}
	stop := func() {}
	var where string
	if o.Postgres {
		fmt.Fprintln(log, "bench: starting a throwaway PostgreSQL server ...")
		srv, err := pgserver.Start(ctx)
		if err != nil {
			return be, "", nil, fmt.Errorf("-postgres: %w", err)
		}
		stop = func() {
			if err := srv.Stop(); err != nil {
				fmt.Fprintf(log, "bench: %v\n", err)
			}
		}
		be.admin, be.pgPID = srv.AdminURL(), srv.PID()
		where = "throwaway server on " + be.admin.Host + ", fsync on, synchronous_commit on"
	} else {
		u, err := url.Parse(o.Database)
		if err != nil {
			return be, "", nil, err
		}
		be.admin = u
		where = "at " + u.Redacted()
	}
	version, err := serverVersion(ctx, be.admin)
	if err != nil {
		stop()
		return be, "", nil, fmt.Errorf("PostgreSQL: %w", err)
	}
	return be, "PostgreSQL " + version + ", " + where, stop, nil
}

func serverVersion(ctx context.Context, admin *url.URL) (string, error) {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return "", err
	}
	defer conn.Close(ctx)
	var v string
	err = conn.QueryRow(ctx, "SHOW server_version").Scan(&v)
	return v, err
}

// spread says where the senders' requests went.
func (b *bench) spread(nodes int) string {
	if nodes == 1 {
		return "one relay-server on SQLite (--data in a temporary directory; WAL, synchronous=FULL)"
	}
	return fmt.Sprintf("%d relay-server nodes on one fresh PostgreSQL database; the CLI on node 0, requests to the nodes in turn (%d of every %d cross nodes)", nodes, nodes-1, nodes)
}
