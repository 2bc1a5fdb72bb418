// Package buildinfo says which build a binary is: the version, commit and
// date a release sets with -ldflags -X, or, when it did not (go build, go
// install, go run), what the Go toolchain recorded in the binary.
package buildinfo

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

// Set at build time by the release:
//
//	-X github.com/hookctl/hookctl/internal/buildinfo.Version=1.2.3
//	-X github.com/hookctl/hookctl/internal/buildinfo.Commit=abc1234
//	-X github.com/hookctl/hookctl/internal/buildinfo.Date=2026-12-06T12:00:00Z
var (
	Version = ""
	Commit  = ""
	Date    = ""
)

// Info is one binary's build.
type Info struct {
	Version  string `json:"version"`            // "1.2.3", a module version, or "dev"
	Commit   string `json:"commit,omitempty"`   // the VCS revision, when known
	Date     string `json:"date,omitempty"`     // commit or build time, RFC 3339, when known
	Modified bool   `json:"modified,omitempty"` // built from a work tree with uncommitted changes
	Go       string `json:"go"`                 // the Go toolchain, e.g. go1.26.8
	Platform string `json:"platform"`           // GOOS/GOARCH
}

// Get returns this binary's build: the ldflags values where set, else the
// module version and VCS stamp from debug.ReadBuildInfo.
func Get() Info {
	bi, _ := debug.ReadBuildInfo()
	return from(bi, Version, Commit, Date)
}

func from(bi *debug.BuildInfo, version, commit, date string) Info {
	info := Info{Version: version, Commit: commit, Date: date, Go: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
	if bi != nil {
		info.Go = bi.GoVersion
		// A build from a clone has "(devel)" or, since Go 1.24, a pseudo-version
		// such as v0.0.0-20261206134349-5e75ee577d24+dirty: that is "dev", with
		// the commit and date below. go install module@v1.2.3 gives 1.2.3.
		if v := bi.Main.Version; info.Version == "" && v != "" && v != "(devel)" && !strings.HasPrefix(v, "v0.0.0-") {
			info.Version = strings.TrimPrefix(v, "v")
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if info.Commit == "" {
					info.Commit = s.Value
				}
			case "vcs.time":
				if info.Date == "" {
					info.Date = s.Value
				}
			case "vcs.modified":
				info.Modified = s.Value == "true" && commit == ""
			}
		}
	}
	if info.Version == "" {
		info.Version = "dev"
	}
	return info
}

// Short is the version with the short commit: "1.2.3 (abc1234)", "dev (abc1234, modified)", or "dev".
func (i Info) Short() string {
	var extra []string
	if i.Commit != "" {
		c := i.Commit
		if len(c) > 12 {
			c = c[:12]
		}
		extra = append(extra, c)
	}
	if i.Modified {
		extra = append(extra, "modified")
	}
	if len(extra) == 0 {
		return i.Version
	}
	return fmt.Sprintf("%s (%s)", i.Version, strings.Join(extra, ", "))
}

// Text is the multi-line form printed by `version`, prog naming the binary.
func (i Info) Text(prog string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s\n", prog, i.Version)
	commit := i.Commit
	if commit == "" {
		commit = "unknown"
	}
	if i.Modified {
		commit += " (modified)"
	}
	fmt.Fprintf(&b, "commit:   %s\n", commit)
	date := i.Date
	if date == "" {
		date = "unknown"
	}
	fmt.Fprintf(&b, "date:     %s\n", date)
	fmt.Fprintf(&b, "go:       %s\n", i.Go)
	fmt.Fprintf(&b, "platform: %s\n", i.Platform)
	return b.String()
}
