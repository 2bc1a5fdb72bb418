package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"
)

func TestFrom(t *testing.T) {
	stamped := &debug.BuildInfo{
		GoVersion: "go1.26.8",
		Main:      debug.Module{Path: "github.com/hookctl/hookctl", Version: "v0.0.0-20261206100000-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-12-06T10:00:00Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	tests := []struct {
		name                  string
		bi                    *debug.BuildInfo
		version, commit, date string
		want                  Info
		short                 string
	}{
		{
			name:  "go build in a work tree",
			bi:    stamped,
			want:  Info{Version: "dev", Commit: "0123456789abcdef0123456789abcdef01234567", Date: "2026-12-06T10:00:00Z", Modified: true, Go: "go1.26.8"},
			short: "dev (0123456789ab, modified)",
		},
		{
			name: "release ldflags win over the VCS stamp",
			bi:   stamped, version: "1.4.0", commit: "abc1234", date: "2026-12-01T00:00:00Z",
			want:  Info{Version: "1.4.0", Commit: "abc1234", Date: "2026-12-01T00:00:00Z", Go: "go1.26.8"},
			short: "1.4.0 (abc1234)",
		},
		{
			name:  "go install module@version",
			bi:    &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.3.2"}},
			want:  Info{Version: "1.3.2", Go: "go1.26.8"},
			short: "1.3.2",
		},
		{
			name:  "no build info",
			want:  Info{Version: "dev"},
			short: "dev",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := from(tt.bi, tt.version, tt.commit, tt.date)
			if tt.want.Go == "" {
				tt.want.Go = got.Go // the running toolchain
			}
			tt.want.Platform = got.Platform
			if got != tt.want {
				t.Errorf("from() = %+v, want %+v", got, tt.want)
			}
			if s := got.Short(); s != tt.short {
				t.Errorf("Short() = %q, want %q", s, tt.short)
			}
			if !strings.Contains(got.Platform, "/") {
				t.Errorf("Platform = %q", got.Platform)
			}
		})
	}
}

func TestText(t *testing.T) {
	got := Info{Version: "dev", Go: "go1.26.8", Platform: "linux/amd64"}.Text("hookctl")
	want := "hookctl dev\ncommit:   unknown\ndate:     unknown\ngo:       go1.26.8\nplatform: linux/amd64\n"
	if got != want {
		t.Errorf("Text() =\n%s\nwant\n%s", got, want)
	}
}
