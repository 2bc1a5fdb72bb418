package relaycmd_test

import (
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/relay-server/relaycmd"
)

// deployCommands are the relay-server command lines the repository tells
// operators to run, as argument lists after the program name: the
// systemd unit's ExecStart (with the RELAY_ARGS example from
// /etc/default/relay-server), the container image's CMD, and every
// relay-server line of the README, including the docker run ones.
func deployCommands(t *testing.T) map[string][]string {
	t.Helper()
	root := filepath.Join("..", "..")
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	cmds := map[string][]string{}

	unit := read("deploy/relay-server.service")
	exec := regexp.MustCompile(`(?m)^ExecStart=/usr/bin/relay-server(.*)$`).FindStringSubmatch(unit)
	if exec == nil {
		t.Fatal("deploy/relay-server.service: no ExecStart=/usr/bin/relay-server line")
	}
	example := regexp.MustCompile(`(?m)^# RELAY_ARGS="([^"]*)"`).FindStringSubmatch(read("deploy/relay-server.default"))
	if example == nil {
		t.Fatal(`deploy/relay-server.default: no '# RELAY_ARGS="..."' example`)
	}
	line := strings.ReplaceAll(exec[1], "$RELAY_ARGS", "")
	cmds["relay-server.service ExecStart"] = strings.Fields(line)
	cmds["relay-server.service ExecStart with the RELAY_ARGS example"] = strings.Fields(strings.ReplaceAll(exec[1], "$RELAY_ARGS", example[1]))

	cmdLine := regexp.MustCompile(`(?m)^CMD (\[.*\])$`).FindStringSubmatch(read("deploy/Dockerfile"))
	if cmdLine == nil {
		t.Fatal("deploy/Dockerfile: no CMD [...] line")
	}
	var args []string
	if err := json.Unmarshal([]byte(cmdLine[1]), &args); err != nil {
		t.Fatalf("deploy/Dockerfile CMD: %v", err)
	}
	cmds["Dockerfile CMD"] = args

	// README: lines (in code blocks or inline) that run relay-server with
	// arguments, up to a shell comment.
	readme := regexp.MustCompile(`(?:go run \./relay-server|^relay-server|ghcr\.io/hookctl/relay-server:\S+|sudo -u hookctl relay-server) ([^#\x60\n]*)`)
	for i, l := range strings.Split(read("README.md"), "\n") {
		for _, m := range readme.FindAllStringSubmatch(strings.TrimSpace(l), -1) {
			cmds["README.md:"+strconv.Itoa(i+1)] = strings.Fields(m[1])
		}
	}
	return cmds
}

// Every command line the deploy files and the README give parses against
// relay-server's real command tree: a renamed or removed flag fails here
// instead of in an operator's unit file.
func TestDeployCommandLinesParse(t *testing.T) {
	cmds := deployCommands(t)
	var fromReadme int
	for where := range cmds {
		if strings.HasPrefix(where, "README.md:") {
			fromReadme++
		}
	}
	if fromReadme < 5 {
		t.Fatalf("found %d relay-server command lines in README.md, want at least 5: is the pattern still right?", fromReadme)
	}
	for where, args := range cmds {
		root := relaycmd.NewCmdRoot(io.Discard, io.Discard)
		cmd, rest, err := root.Find(args)
		if err != nil {
			t.Errorf("%s: relay-server %s: %v", where, strings.Join(args, " "), err)
			continue
		}
		if err := cmd.ParseFlags(rest); err != nil {
			t.Errorf("%s: relay-server %s: %v", where, strings.Join(args, " "), err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("%s: relay-server %s: %v", where, strings.Join(args, " "), err)
			continue
		}
		t.Logf("%s: relay-server %s: ok (%s)", where, strings.Join(args, " "), cmd.CommandPath())
	}
}
