package relay

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// serveIngress captures a webhook: validate, store durably, then answer
// according to the endpoint's session (the app's response, or 202).
// rec, when not nil, recorded the request's header block as sent.
func (r *Relay) serveIngress(w http.ResponseWriter, req *http.Request, rec *recordConn) {
	ctx := req.Context()
	// Taken before the body is read: body bytes are never recorded.
	var block string
	bodyRead := false
	if rec != nil {
		block = rec.take()
		defer func() {
			if bodyRead {
				// The body was read to its end, so the next byte read
				// from the connection starts the next request; otherwise
				// net/http discards the rest after this returns, and the
				// connection stays unrecorded.
				rec.arm()
			}
		}()
	}
	rawPath, rawQuery, forceQuery := capture.SplitRequestURI(req)
	// Every refusal before the body is read drains it (refuseWebhook).
	refuse := func(status int, code, text string) { r.refuseWebhook(w, req, status, code, text) }
	if n := headerFields(req.Header); n > MaxHeaderFields {
		refuse(http.StatusRequestHeaderFieldsTooLarge, "too_many_headers",
			fmt.Sprintf("%d header fields, over the limit of %d", n, MaxHeaderFields))
		return
	}
	rest, ok := strings.CutPrefix(rawPath, "/h/")
	if !ok {
		refuse(http.StatusBadRequest, wire.CodeBadEndpoint, "webhook URLs are /h/{endpoint}/{path}")
		return
	}
	name, sub, _ := strings.Cut(rest, "/")
	sub = "/" + sub
	if err := wire.CheckEndpointName(name); err != nil {
		refuse(http.StatusBadRequest, wire.CodeBadEndpoint, err.Error())
		return
	}
	if err := capture.CheckPath(sub); err != nil {
		refuse(http.StatusBadRequest, "bad_path", err.Error())
		return
	}
	exists, err := r.endpointExists(ctx, name)
	if err != nil {
		r.log.Error("ingress: look up endpoint", "endpoint", name, "err", err)
		refuse(http.StatusServiceUnavailable, "internal", "relay storage unavailable")
		return
	}
	if !exists {
		refuse(http.StatusNotFound, "not_found", fmt.Sprintf("no endpoint %q on this relay", name))
		return
	}
	if ok, wait := r.limit.allow(name); !ok {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		refuse(http.StatusTooManyRequests, "rate_limited", fmt.Sprintf("endpoint %q is over its rate limit", name))
		return
	}
	tooLarge := func() {
		refuse(http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("body over the %d-byte limit", r.cfg.MaxBody))
	}
	if req.ContentLength > r.cfg.MaxBody {
		tooLarge()
		return
	}
	full := func() {
		w.Header().Set("Retry-After", "1")
		refuse(http.StatusServiceUnavailable, "busy", "the relay is receiving as many bytes as it is configured to hold; retry shortly")
	}
	// The body's bytes are reserved before they are read: a declared
	// length at once, an undeclared one as it arrives.
	// Over the limit, MaxBytesReader tells net/http's own writer, which it
	// finds by type, to close the connection after the answer.
	var in io.Reader = http.MaxBytesReader(netHTTPWriter(w), req.Body, r.cfg.MaxBody)
	if req.ContentLength >= 0 {
		if !r.inflight.take(name, req.ContentLength) {
			full()
			return
		}
		defer r.inflight.give(name, req.ContentLength)
	} else {
		m := &meteredReader{r: in, f: r.inflight, endpoint: name}
		defer func() { r.inflight.give(name, m.held) }()
		in = m
	}
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(r.cfg.BodyTimeout))
	body, err := readBody(in, req.ContentLength)
	if err != nil {
		var over *http.MaxBytesError
		switch {
		case errors.As(err, &over):
			tooLarge()
		case errors.Is(err, errFull):
			full()
		default:
			writeError(w, http.StatusBadRequest, "bad_body", "reading the body: "+err.Error())
		}
		return
	}
	bodyRead = true
	rc.SetReadDeadline(time.Time{})

	headers, asSent := rawHeaders(block, req)
	if !asSent {
		headers = capture.HeadersFrom(req.Header)
	}

	ev := &capture.Request{
		ID:         r.ids.next(),
		Endpoint:   name,
		Method:     req.Method,
		Path:       sub,
		Query:      rawQuery,
		ForceQuery: forceQuery,
		Headers:    headers,
		Body:       body,
		Host:       r.host(req),
		Proto:      r.scheme(req),
		RemoteAddr: req.RemoteAddr,
		ReceivedAt: r.cfg.Now().UTC(),
	}
	ev.SetRaw() // keeps bytes that are not UTF-8 through JSON (wire, store)
	// Wait before storing: once stored, the session may deliver it and get
	// the response before this handler would have registered.
	respCh := r.hub.wait(name, ev.ID)
	defer r.hub.unwait(ev.ID)
	if err := r.st.InsertEvent(ctx, ev); err != nil {
		r.log.Error("ingress: store event", "endpoint", name, "err", err)
		writeError(w, http.StatusServiceUnavailable, "internal", "relay storage unavailable; the webhook was not stored")
		return
	}
	r.metrics.stored.Inc()
	if !r.notified {
		r.hub.poke(name)
	}

	reply, listening := r.replyOf(ctx, name)
	if !listening {
		writeQueued(w, http.StatusAccepted, ev.ID)
		return
	}
	switch reply.Mode {
	case wire.ReplyAck:
		writeQueued(w, http.StatusAccepted, ev.ID)
		return
	case wire.ReplyStatus:
		writeQueued(w, reply.Status, ev.ID)
		return
	}
	var resp *capture.Response
	select {
	case resp = <-respCh:
		// Handed over before its commit (session_early.go), the event was
		// often answered while the commit ran: no timer to arm.
	default:
		timeout := r.cfg.ReplyTimeout
		if reply.Timeout > 0 {
			timeout = reply.Timeout
		}
		t := time.NewTimer(timeout)
		defer t.Stop()
		select {
		case resp = <-respCh:
		case <-t.C:
			writeQueued(w, http.StatusAccepted, ev.ID)
			return
		case <-r.quit:
			writeQueued(w, http.StatusAccepted, ev.ID)
			return
		case <-ctx.Done():
			// The sender left; the event is stored and will be delivered.
			return
		}
	}
	if resp.Error != "" || resp.Status < 200 || resp.Status > 599 {
		// No answer from the app (down, or no usable answer): the event
		// is queued; the CLI may ask for another status so that the
		// provider retries. An event the CLI chose not to deliver
		// (Skipped) is not an app that is down.
		status := http.StatusAccepted
		if resp.Error != "" && resp.Status == 0 && !resp.Skipped && reply.DownStatus != 0 {
			status = reply.DownStatus
		}
		writeQueued(w, status, ev.ID)
		return
	}
	h := w.Header()
	resp.Headers.AddTo(h)
	capture.RemoveHopByHop(h)
	if req.Method != http.MethodHead && resp.Status != http.StatusNotModified {
		h["Content-Length"] = []string{strconv.Itoa(len(resp.Body))} // the body is whole here
	}
	// Otherwise no body follows and the app's Content-Length is that of
	// the body a GET would get: keep it. (net/http drops it from a 204.)
	// net/http adds a Date, and a Content-Type sniffed from the body,
	// to a response without them: the sender gets only what the app
	// sent (a nil entry suppresses them).
	for _, k := range [...]string{"Date", "Content-Type"} {
		if _, ok := h[k]; !ok {
			h[k] = nil
		}
	}
	w.WriteHeader(resp.Status)
	w.Write(resp.Body)
}

// MaxHeaderBytes bounds a request's header block; over it net/http answers
// 431 Request Header Fields Too Large and closes the connection.
const MaxHeaderBytes = 64 << 10

// MaxHeaderFields bounds the header fields of a webhook; over it ingress
// answers 431.
const MaxHeaderFields = 1000

func headerFields(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// drainTimeout bounds how long a refused webhook's body is read for.
const drainTimeout = 10 * time.Second

// refuseWebhook answers a webhook that will not be stored, then reads and
// discards what is left of its body, up to drainMax bytes or drainTimeout.
// A sender that writes its whole body before it reads the answer (Python's
// http.client, many scripts) then reads the refusal instead of a broken
// pipe. The connection is closed after a body of unknown length or one over
// drainMax, and kept for the next request otherwise. A sender that asked
// "Expect: 100-continue" is not sent the 100, so it sends no body and
// nothing is drained.
func (r *Relay) refuseWebhook(w http.ResponseWriter, req *http.Request, status int, code, text string) {
	rc := http.NewResponseController(w)
	limit := r.drainMax()
	drain := req.ContentLength != 0 && !strings.EqualFold(req.Header.Get("Expect"), "100-continue")
	if drain {
		// Otherwise net/http discards at most 256 KiB of the body before it
		// writes the answer, and closes on a sender still writing.
		drain = rc.EnableFullDuplex() == nil
	}
	if req.ContentLength < 0 || req.ContentLength > limit {
		w.Header().Set("Connection", "close")
	}
	writeError(w, status, code, text)
	if !drain {
		return
	}
	rc.Flush()
	rc.SetReadDeadline(time.Now().Add(drainTimeout))
	io.CopyN(io.Discard, req.Body, limit)
	rc.SetReadDeadline(time.Time{})
}

// drainMax is how much of a refused body is read and discarded: 8 ×
// MaxBody, at least 1 MiB.
func (r *Relay) drainMax() int64 { return max(8*r.cfg.MaxBody, 1<<20) }

// replyOf is how the endpoint's session asked senders to be answered, and
// whether a session listens at all: the local one, else (several nodes)
// the one holding the endpoint's lease on another node.
func (r *Relay) replyOf(ctx context.Context, endpoint string) (wire.ReplyOptions, bool) {
	if s := r.hub.session(endpoint); s != nil {
		return s.reply, true
	}
	if r.cluster == nil {
		return wire.ReplyOptions{}, false
	}
	l, err := r.cluster.Lease(ctx, endpoint)
	if err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			r.log.Error("ingress: look up the endpoint's session", "endpoint", endpoint, "err", err)
		}
		return wire.ReplyOptions{}, false
	}
	return l.Reply, true
}

// readBody is io.ReadAll sized by the declared Content-Length (-1 when
// unknown; the reader enforces the limit): the body is read into one buffer
// of its size instead of one grown by doubling, which for 20 MiB allocated
// and copied about twice that on the way. The declared length is reserved
// against Config.MaxInflight before this runs, so a sender that declares a
// large body and sends little holds the relay's room, not more memory than
// it is allowed.
func readBody(body io.Reader, contentLength int64) ([]byte, error) {
	if contentLength < 0 {
		return io.ReadAll(body)
	}
	// One byte more, so the end is seen without growing.
	b := make([]byte, 0, contentLength+1)
	for {
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// host is the Host the sender used: behind a trusted proxy, the first
// X-Forwarded-Host (a proxy may rewrite Host to the relay's address), so the
// app's X-Forwarded-Host names the public host a signature may cover.
func (r *Relay) host(req *http.Request) string {
	if r.cfg.TrustProxy {
		if h := strings.TrimSpace(strings.Split(req.Header.Get("X-Forwarded-Host"), ",")[0]); h != "" {
			return h
		}
	}
	return req.Host
}

func (r *Relay) scheme(req *http.Request) string {
	if r.cfg.TrustProxy {
		if p := strings.ToLower(strings.TrimSpace(strings.Split(req.Header.Get("X-Forwarded-Proto"), ",")[0])); p == "http" || p == "https" {
			return p
		}
	}
	if req.TLS != nil {
		return "https"
	}
	return "http"
}

// queued is the body of a 202 (or fixed-status) answer.
type queued struct {
	ID     string `json:"id"`
	Status string `json:"status"`
}

func writeQueued(w http.ResponseWriter, status int, id string) {
	writeJSON(w, status, queued{ID: id, Status: "queued"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":"encoding the response failed","code":"internal"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, code, text string) {
	writeJSON(w, status, wire.APIError{Error: text, Code: code})
}

// InflightBytes is how many body bytes ingress holds now (Config.MaxInflight).
func (r *Relay) InflightBytes() int64 { return r.inflight.bytes() }

// HandoffLargeBytes is how many bytes of events larger than a handoff
// sessions hold now, waiting to be sent (at most Config.MaxInflight).
func (r *Relay) HandoffLargeBytes() int64 { return r.largeHandoff.Load() }
