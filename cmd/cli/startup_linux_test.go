package cli

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/muesli/termenv"
)

// TestMain lets a test run this test binary as hookctl itself: with
// HOOKCTL_TEST_MAIN=1 it is the command, with HOOKCTL_TEST_ARGS; with
// HOOKCTL_TEST_MAIN=term it prints TERM and termenv's profile as main sees them.
func TestMain(m *testing.M) {
	if os.Getenv("HOOKCTL_TEST_MAIN") == "term" {
		term, ok := os.LookupEnv("TERM")
		fmt.Printf("TERM=%q set=%v profile=%d\n", term, ok, termenv.DefaultOutput().Profile)
		os.Exit(0)
	}
	if os.Getenv("HOOKCTL_TEST_MAIN") == "1" {
		os.Args = append(os.Args[:1], strings.Fields(os.Getenv("HOOKCTL_TEST_ARGS"))...)
		os.Exit(Main())
	}
	os.Exit(m.Run())
}

// TestNoTerminalQueryAtStartup: hookctl run in a terminal that never answers
// (script, docker run -t) neither asks the terminal for its background colour
// nor waits for the answer, whether or not it runs the inspector. Bubble Tea
// v1's init asked on every command and waited termenv's 5 s for a reply. The
// process runs as the foreground job of its own pty, as in a real terminal
// (termenv does not ask from the background), with a TERM termenv would ask.
func TestNoTerminalQueryAtStartup(t *testing.T) {
	for _, c := range []struct{ args, want, quitOn string }{
		{"fixtures list", "stripe", ""},
		{"--help", "Usage", ""},
		{"inspect", "TIME", "TIME"}, // the inspector, on an empty store; q quits
	} {
		t.Run(c.args, func(t *testing.T) {
			dir := t.TempDir()
			env := []string{"HOOKCTL_DATA_DIR=" + dir, "HOOKCTL_CONFIG_DIR=" + dir}
			out, elapsed := runOnPty(t, c.args, env, c.quitOn)
			if strings.Contains(out, "\x1b]11;?") || strings.Contains(out, "\x1b[6n") {
				t.Errorf("hookctl %s queried the terminal:\n%q", c.args, out[:min(len(out), 200)])
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("hookctl %s printed:\n%q", c.args, out[:min(len(out), 200)])
			}
			t.Logf("hookctl %s took %v", c.args, elapsed)
		})
	}
}

// TestTermRestored: package noprobe sets TERM=dumb while bubbletea's init
// runs; by main, TERM (set or unset) and termenv's default colour profile
// are what they were, so $EDITOR and colour detection see the real ones.
func TestTermRestored(t *testing.T) {
	var base []string
	for _, kv := range ptyEnviron() {
		if !strings.HasPrefix(kv, "TERM=") && !strings.HasPrefix(kv, "COLORTERM=") && !strings.HasPrefix(kv, "NO_COLOR=") {
			base = append(base, kv)
		}
	}
	run := func(env ...string) string {
		master, slave := openPty(t)
		defer slave.Close()
		cmd := exec.Command(os.Args[0])
		cmd.Env = append(append(base, "HOOKCTL_TEST_MAIN=term", "GORACE=atexit_sleep_ms=0"), env...)
		cmd.Stdout = slave
		if err := cmd.Run(); err != nil {
			t.Fatal(err)
		}
		slave.Close()
		out, _ := io.ReadAll(master) // until EIO: every slave side is closed
		return strings.TrimSpace(string(out))
	}
	for _, c := range []struct{ env, want string }{
		{"TERM=xterm-256color", fmt.Sprintf("TERM=%q set=true profile=%d", "xterm-256color", termenv.ANSI256)},
		{"TERM=", fmt.Sprintf("TERM=%q set=true profile=%d", "", termenv.Ascii)},
		{"", fmt.Sprintf("TERM=%q set=false profile=%d", "", termenv.Ascii)},
	} {
		var env []string
		if c.env != "" {
			env = append(env, c.env)
		}
		if got := run(env...); got != c.want {
			t.Errorf("with %q: got %s, want %s", c.env, got, c.want)
		}
	}
}

// runOnPty runs hookctl args with a new pty as its controlling terminal and
// returns what it wrote; once the output contains quitOn (if not empty) it
// types q. A run that does not query takes milliseconds; one
// that queries waits 5 s for the answer, so at 4 s a run that has written the
// query fails. A run that is merely slow (a loaded machine) gets a minute.
func runOnPty(t *testing.T, args string, env []string, quitOn string) (string, time.Duration) {
	t.Helper()
	master, slave := openPty(t)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(ptyEnviron(), "HOOKCTL_TEST_MAIN=1", "HOOKCTL_TEST_ARGS="+args,
		"TERM=xterm-256color", "COLORFGBG=", "NO_COLOR=",
		"GORACE=atexit_sleep_ms=0") // the race runtime waits 1 s at exit
	cmd.Env = append(cmd.Env, env...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()

	var (
		mu  sync.Mutex
		out bytes.Buffer
	)
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf) // until the child's side closes (EIO)
			mu.Lock()
			out.Write(buf[:n])
			quit := quitOn != "" && strings.Contains(out.String(), quitOn)
			mu.Unlock()
			if quit {
				master.WriteString("q")
				quitOn = ""
			}
			if err != nil {
				return
			}
		}
	}()
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	stall := time.After(4 * time.Second)
	giveUp := time.After(time.Minute)
	for {
		select {
		case err := <-waited:
			elapsed := time.Since(start)
			<-read
			if err != nil {
				t.Errorf("hookctl %s: %v\n%s", args, err, output())
			}
			return output(), elapsed
		case <-stall:
			if strings.Contains(output(), "\x1b]11;?") {
				cmd.Process.Kill()
				<-waited
				<-read
				t.Fatalf("hookctl %s queried the terminal and is still waiting after 4 s; it wrote:\n%q", args, output())
			}
		case <-giveUp:
			cmd.Process.Kill()
			<-waited
			<-read
			t.Fatalf("hookctl %s still running after a minute; it wrote:\n%q", args, output())
		}
	}
}

// openPty opens a new pseudo-terminal pair (Linux's /dev/ptmx).
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	var unlock int32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCSPTLCK, uintptr(unsafe.Pointer(&unlock))); e != 0 {
		t.Fatal(e)
	}
	var n uint32
	if _, _, e := syscall.Syscall(syscall.SYS_IOCTL, master.Fd(), syscall.TIOCGPTN, uintptr(unsafe.Pointer(&n))); e != 0 {
		t.Fatal(e)
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	return master, slave
}

// ptyEnviron is this process's environment without CI: termenv takes a set
// CI to mean "not a terminal" and then never queries or colours, so under a
// CI runner these tests would not exercise the terminal at all.
func ptyEnviron() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") {
			env = append(env, kv)
		}
	}
	return env
}
