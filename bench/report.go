package main

import (
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"
)

// Results is the whole run.
type Results struct {
	Cores       int        `json:"cores"`
	GoVersion   string     `json:"go_version"`
	Body        int        `json:"body_bytes"`
	CLI         string     `json:"cli"`
	LoadBefore  string     `json:"loadavg_before"`
	LoadAfter   string     `json:"loadavg_after"`
	StartedAt   time.Time  `json:"started_at"`
	Scenarios   []Scenario `json:"scenarios"`
	NofileLimit uint64     `json:"nofile_limit"`
	PostgreSQL  string     `json:"postgresql,omitempty"` // the server the PostgreSQL scenarios ran on
}

// Scenario is one scenario's figures.
type Scenario struct {
	Name     string   `json:"name"`
	Backend  string   `json:"backend"` // "sqlite" or "postgres"
	Nodes    int      `json:"nodes"`   // relay processes
	Seconds  float64  `json:"seconds"`
	LoadAvg  string   `json:"loadavg"` // at the end of the scenario
	Metrics  []Metric `json:"metrics"`
	Notes    []string `json:"notes"`
	Error    string   `json:"error,omitempty"`
	finished time.Time
}

// Metric is one figure through the relay next to the direct one.
type Metric struct {
	Name   string   `json:"name"`
	Unit   string   `json:"unit"`
	Direct *float64 `json:"direct"`          // null when there is no direct counterpart
	Relay  float64  `json:"relay"`           // through the relay
	Added  *float64 `json:"added,omitempty"` // relay-added, when meaningful
	Target string   `json:"target,omitempty"`
	Met    *bool    `json:"met,omitempty"`
}

func ptr[T any](v T) *T { return &v }

func (r *Results) print(w io.Writer) {
	fmt.Fprintf(w, "hookctl bench: %d cores, %s, %d-byte bodies, CLI %s, RLIMIT_NOFILE %d\n", r.Cores, r.GoVersion, r.Body, r.CLI, r.NofileLimit)
	if r.PostgreSQL != "" {
		fmt.Fprintf(w, "PostgreSQL: %s\n", r.PostgreSQL)
	}
	fmt.Fprintf(w, "load average before: %s  after: %s\n\n", r.LoadBefore, r.LoadAfter)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tmetric\tunit\tdirect\trelay\trelay-added\ttarget\tmet\t")
	num := func(p *float64) string {
		if p == nil {
			return "-"
		}
		return fmtNum(*p)
	}
	for _, s := range r.Scenarios {
		for _, m := range s.Metrics {
			met := "-"
			if m.Met != nil {
				met = map[bool]string{true: "yes", false: "NO"}[*m.Met]
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", s.label(), m.Name, m.Unit, num(m.Direct), fmtNum(m.Relay), num(m.Added), m.Target, met)
		}
	}
	tw.Flush()
	for _, s := range r.Scenarios {
		fmt.Fprintf(w, "\n%s (%.1fs, load average %s):\n", s.label(), s.Seconds, s.LoadAvg)
		for _, n := range s.Notes {
			fmt.Fprintf(w, "  %s\n", n)
		}
		if s.Error != "" {
			fmt.Fprintf(w, "  ERROR: %s\n", s.Error)
		}
	}
}

// label names the scenario and, on PostgreSQL, its nodes.
func (s *Scenario) label() string {
	if s.Backend == "postgres" {
		return fmt.Sprintf("%s [postgres×%d]", s.Name, s.Nodes)
	}
	return s.Name
}

func fmtNum(f float64) string {
	switch {
	case f == 0:
		return "0"
	case f >= 100 || f <= -100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10 || f <= -10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 3, 64)
	}
}

func le(v float64, target float64) *bool { return ptr(v <= target) }
func ge(v float64, target float64) *bool { return ptr(v >= target) }

// sizeName names a byte count: "20 MiB", "32 KiB", "1000 B".
func sizeName(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
