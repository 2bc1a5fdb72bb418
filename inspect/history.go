package inspect

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// Stored is a stored event as history commands show it.
type Stored struct {
	Req      *capture.Request
	State    string // "pending", "delivered" or "failed" (wire.State*)
	Attempts int
	Resp     *capture.Response
	// Retries made under listen --retry, and when a pending event is sent
	// again (zero: as soon as a CLI takes it).
	Retries     int
	NextAttempt time.Time
}

// TableOptions configure WriteTable.
type TableOptions struct {
	Styles Styles
	TTY    bool // relative times ("3m ago") instead of RFC 3339
	Now    func() time.Time
}

// WriteTable prints stored events as aligned columns:
// ID, RECEIVED, METHOD, PATH, STATE, STATUS, DURATION. STATUS is ERR for no
// answer, SKIP for an event listen --route-only did not send.
func WriteTable(w io.Writer, rows []Stored, opts TableOptions) error {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tRECEIVED\tMETHOD\tPATH\tSTATE\tSTATUS\tDURATION")
	for _, r := range rows {
		when := r.Req.ReceivedAt.UTC().Format(time.RFC3339)
		if opts.TTY {
			when = ago(opts.Now().Sub(r.Req.ReceivedAt))
		}
		status, dur := "-", "-"
		if r.Resp != nil {
			switch {
			case r.Resp.Skipped:
				status = "SKIP" // not sent: no listen --route took it
			case r.Resp.Error != "":
				status = "ERR"
			default:
				status = fmt.Sprint(r.Resp.Status)
			}
			dur = FormatDuration(r.Resp.Duration)
		}
		// Colour codes would confuse tabwriter's widths, so the table is
		// plain; the status column is short enough to read without.
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Req.ID, when, Printable(r.Req.Method, false), Printable(r.Req.URI(), false), r.State, status, dur)
	}
	return tw.Flush()
}

func ago(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds ago", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// WriteDetail prints one stored event: the request as received, then the
// local app's response.
func WriteDetail(w io.Writer, r Stored) error {
	q := r.Req
	fmt.Fprintf(w, "id:          %s\n", q.ID)
	fmt.Fprintf(w, "endpoint:    %s\n", q.Endpoint)
	fmt.Fprintf(w, "received:    %s\n", q.ReceivedAt.UTC().Format(time.RFC3339Nano))
	if q.RemoteAddr != "" {
		fmt.Fprintf(w, "from:        %s\n", q.RemoteAddr)
	}
	fmt.Fprintf(w, "state:       %s (%d attempts)\n", r.State, r.Attempts)
	if r.Retries > 0 {
		fmt.Fprintf(w, "retries:     %d\n", r.Retries)
	}
	if !r.NextAttempt.IsZero() && r.State == "pending" {
		fmt.Fprintf(w, "next try:    %s\n", r.NextAttempt.UTC().Format(time.RFC3339Nano))
	}
	if q.ReplayOf != "" {
		fmt.Fprintf(w, "replay of:   %s\n", q.ReplayOf)
	}
	if r.Resp != nil && r.Resp.Route != "" {
		fmt.Fprintf(w, "route:       %s\n", Printable(r.Resp.Route, false))
	}
	fmt.Fprintf(w, "\n%s %s\n", Printable(q.Method, false), Printable(q.URI(), false))
	writeHeaders(w, q.Headers)
	writeBody(w, q.Body)
	if r.Resp == nil {
		fmt.Fprintln(w, "\n(no response recorded)")
		return nil
	}
	if r.Resp.Error != "" {
		fmt.Fprintf(w, "\nerror: %s\n", Printable(r.Resp.Error, false))
		return nil
	}
	fmt.Fprintf(w, "\n%d (%s)\n", r.Resp.Status, FormatDuration(r.Resp.Duration))
	writeHeaders(w, r.Resp.Headers)
	writeBody(w, r.Resp.Body)
	return nil
}

func writeHeaders(w io.Writer, hs capture.Headers) {
	for _, h := range hs {
		fmt.Fprintf(w, "%s: %s\n", Printable(h.Name, false), Printable(h.Value, false))
	}
}

// isControl reports runes that a terminal may act on: C0 and C1 controls and
// DEL, except tab, newline and carriage return. A body is written by the
// webhook's sender, so one holding them is not printed as text.
func isControl(r rune) bool {
	return (r < 0x20 && r != '\t' && r != '\n' && r != '\r') || (r >= 0x7f && r <= 0x9f)
}

// writeBody prints a text body and a binary one as a size.
func writeBody(w io.Writer, b []byte) {
	if len(b) == 0 {
		return
	}
	fmt.Fprintln(w)
	if !utf8.Valid(b) || strings.ContainsFunc(string(b), isControl) {
		fmt.Fprintf(w, "(%d bytes of binary data; use --json for the bytes)\n", len(b))
		return
	}
	// Format characters (a right-to-left override) are shown escaped; a
	// lone CR, which would overwrite the line, as \x0d.
	fmt.Fprint(w, Printable(string(b), true))
	if b[len(b)-1] != '\n' {
		fmt.Fprintln(w)
	}
}
