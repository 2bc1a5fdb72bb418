// Package pgserver starts a private, throwaway PostgreSQL server: initdb
// into a new temporary directory, postgres on a free 127.0.0.1 port (fsync
// on, trust authentication, no TCP beyond loopback), removed whole by Stop.
// The tests (through pgtest) and the bench use it; nothing in the product
// does.
//
// As root, which initdb and postgres refuse, the server binaries run as the
// postgres account that the distribution packages create. On Linux the
// kernel stops the server if the process that started it dies.
package pgserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries means there is no PostgreSQL server to start here.
var ErrNoBinaries = errors.New("no PostgreSQL server binaries (initdb, postgres) on PATH or under " +
	"/usr/lib/postgresql/*/bin; install the PostgreSQL server package")

// Server is a PostgreSQL server this process started, in a directory of its
// own: data/ (the cluster), the server's socket and postgres.log.
type Server struct {
	dir      string
	port     int
	own      *owner
	postgres string
	cmd      *exec.Cmd
	done     chan struct{} // closed once postgres has exited; then err is set
	err      error
	halted   bool // stopped by Halt, not yet resumed
}

// owner is the account the server binaries run as when this process runs as
// root, which initdb and postgres refuse.
type owner struct{ uid, gid int }

// Start makes a cluster in a new temporary directory and starts it. It
// returns ErrNoBinaries when PostgreSQL is not installed.
func Start(ctx context.Context) (*Server, error) {
	initdb, postgres, err := findBinaries()
	if err != nil {
		return nil, err
	}
	var own *owner
	base := os.TempDir()
	if os.Geteuid() == 0 {
		if own, err = postgresOwner(); err != nil {
			return nil, err
		}
		// The server must reach its directory; $TMPDIR may be private to root.
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "hookctl-pg-")
	if err != nil {
		return nil, err
	}
	c, err := startIn(ctx, dir, own, initdb, postgres)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

func startIn(ctx context.Context, dir string, own *owner, initdb, postgres string) (*Server, error) {
	if own != nil {
		if err := os.Chown(dir, own.uid, own.gid); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.CommandContext(ctx, initdb, "-D", data, "-A", "trust", "-U", "postgres",
		"-E", "UTF8", "--locale=C", "--no-sync")
	cmd.Dir = dir // the caller's working directory may be closed to the postgres user
	cmd.SysProcAttr = procAttr(own)
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}

	// The free port is only free until postgres binds it; another process
	// may take it first, so try a few.
	var err error
	for range 3 {
		var c *Server
		if c, err = launch(ctx, dir, own, postgres); err == nil {
			return c, nil
		}
		if !errors.Is(err, errExited) {
			break
		}
	}
	return nil, err
}

var errExited = errors.New("postgres exited")

// launch starts postgres on a free port and waits until it accepts
// connections.
func launch(ctx context.Context, dir string, own *owner, postgres string) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	c := &Server{dir: dir, port: port, own: own, postgres: postgres}
	if err := c.run(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// run starts postgres on c's directory and port and waits until it accepts
// connections.
func (c *Server) run(ctx context.Context) error {
	logPath := filepath.Join(c.dir, "postgres.log")
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // postgres has its own copy

	done := make(chan struct{})
	c.done = done
	c.cmd = exec.Command(c.postgres, "-D", filepath.Join(c.dir, "data"), "-k", c.dir, "-p", strconv.Itoa(c.port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=on", "-c", "max_connections=300")
	c.cmd.Dir = c.dir
	c.cmd.Stdout, c.cmd.Stderr = log, log
	c.cmd.SysProcAttr = procAttr(c.own)
	if err := c.cmd.Start(); err != nil {
		return err
	}
	cmd := c.cmd
	go func() {
		c.err = cmd.Wait()
		close(done)
	}()

	if err := c.waitReady(ctx); err != nil {
		c.kill()
		return fmt.Errorf("%w\n%s", err, logTail(logPath))
	}
	return nil
}

// waitReady polls until the server accepts a connection, exits, or ctx ends.
func (c *Server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attempt, c.AdminURL().String())
		if err == nil {
			err = conn.Close(attempt)
		}
		cancelAttempt()
		if err == nil {
			return nil
		}
		select {
		case <-c.done:
			return fmt.Errorf("%w before accepting connections: %v", errExited, c.err)
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections: %w (last try: %v)", ctx.Err(), err)
		case <-tick.C:
		}
	}
}

// PID is the server's (the postmaster's) process id; its backends are its
// children.
func (c *Server) PID() int { return c.cmd.Process.Pid }

// AdminURL is the address of the server's postgres database as the
// postgres superuser: where databases are created.
func (c *Server) AdminURL() *url.URL {
	return &url.URL{
		Scheme:   "postgres",
		User:     url.User("postgres"),
		Host:     net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path:     "/postgres",
		RawQuery: "sslmode=disable",
	}
}

// CreateDatabase creates the database name on the server at admin (as
// AdminURL gives it) and returns the new database's URL.
func CreateDatabase(ctx context.Context, admin *url.URL, name string) (string, error) {
	if err := ExecAdmin(ctx, admin, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", err
	}
	u := *admin
	u.Path = "/" + name
	u.RawPath = ""
	return u.String(), nil
}

// DropDatabase drops the database name on the server at admin, ending its
// sessions first.
func DropDatabase(ctx context.Context, admin *url.URL, name string) error {
	return ExecAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
}

// ExecAdmin runs one statement on a connection of its own to admin.
func ExecAdmin(ctx context.Context, admin *url.URL, sql string) error {
	conn, err := pgx.Connect(ctx, admin.String())
	if err != nil {
		return fmt.Errorf("connect to %s: %w", admin.Redacted(), err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		return fmt.Errorf("%s: %w", sql, err)
	}
	return nil
}

// Stop shuts the server down (fast shutdown: clients are disconnected),
// kills it if that takes too long, and removes its directory. It reports a
// server that had exited before it was asked to.
func (c *Server) Stop() error {
	if c.halted {
		return os.RemoveAll(c.dir)
	}
	select {
	case <-c.done:
		os.RemoveAll(c.dir)
		return fmt.Errorf("postgres exited while in use: %v", c.err)
	default:
	}
	return errors.Join(c.shutdown(), os.RemoveAll(c.dir))
}

// Halt shuts the server down as Stop does but keeps its directory, so that
// Resume can start it again: for tests of a database that goes away and
// comes back. Connections fail until then.
func (c *Server) Halt() error {
	if c.halted {
		return nil
	}
	select {
	case <-c.done:
		return fmt.Errorf("postgres exited while in use: %v", c.err)
	default:
	}
	c.halted = true
	return c.shutdown()
}

// Resume starts a halted server again, on the same port and data, and waits
// until it accepts connections.
func (c *Server) Resume(ctx context.Context) error {
	if !c.halted {
		return errors.New("postgres is not halted")
	}
	if err := c.run(ctx); err != nil {
		return err
	}
	c.halted = false
	return nil
}

// shutdown asks postgres for a fast shutdown and waits for it, killing it
// after 30s.
func (c *Server) shutdown() error {
	if c.cmd.Process.Signal(os.Interrupt) != nil {
		c.kill()
	}
	select {
	case <-c.done:
		return nil
	case <-time.After(30 * time.Second):
		c.kill()
		return errors.New("postgres did not shut down within 30s; killed it")
	}
}

// kill ends the server at once and waits for it.
func (c *Server) kill() {
	c.cmd.Process.Kill()
	<-c.done
}

// findBinaries finds initdb on PATH, else in the newest
// /usr/lib/postgresql/<version>/bin, and the postgres next to it: initdb
// only works with the server of its own version.
func findBinaries() (initdb, postgres string, err error) {
	initdb, err = exec.LookPath("initdb")
	if err != nil {
		dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		slices.SortFunc(dirs, func(a, b string) int {
			return compareVersions(filepath.Base(filepath.Dir(b)), filepath.Base(filepath.Dir(a)))
		})
		for _, d := range dirs {
			if initdb, err = exec.LookPath(filepath.Join(d, "initdb")); err == nil {
				break
			}
		}
	}
	if err != nil {
		return "", "", ErrNoBinaries
	}
	if resolved, err := filepath.EvalSymlinks(initdb); err == nil {
		initdb = resolved
	}
	postgres, err = exec.LookPath(filepath.Join(filepath.Dir(initdb), "postgres"))
	if err != nil {
		return "", "", ErrNoBinaries
	}
	return initdb, postgres, nil
}

// compareVersions compares dotted versions numerically ("9.6" < "15").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			return x - y
		}
	}
	return 0
}

// postgresOwner looks up the postgres account the distribution packages create.
func postgresOwner() (*owner, error) {
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, which initdb refuses, and there is no postgres user to run it as: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil {
		return nil, fmt.Errorf("postgres user: uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.Atoi(u.Gid)
	if err != nil {
		return nil, fmt.Errorf("postgres user: gid %q: %w", u.Gid, err)
	}
	return &owner{uid: uid, gid: gid}, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// logTail is the end of the server log, for error messages.
func logTail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return strings.TrimSpace(string(b))
}
