package relay

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/tunnel/capture"
	"github.com/hookctl/hookctl/tunnel/wire"
)

// apiAuth returns the caller's token id ("" in open mode), or answers 401.
func (r *Relay) apiAuth(w http.ResponseWriter, req *http.Request) (string, bool) {
	if r.cfg.Open {
		return "", true
	}
	secret, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
	owner, err := r.authenticate(req.Context(), strings.TrimSpace(secret))
	if !ok || errors.Is(err, errUnauthorized) {
		attrs := []any{"path", logText(req.URL.Path)}
		if ep := req.URL.Query().Get("endpoint"); ep != "" {
			attrs = append(attrs, "endpoint", logText(ep))
		}
		r.log.Warn("api: refused: unknown or missing token", r.clientAttrs(req, attrs...)...)
		w.Header().Set("WWW-Authenticate", `Bearer realm="hookctl"`)
		writeError(w, http.StatusUnauthorized, "unauthorized", "unknown or missing token: send Authorization: Bearer TOKEN")
		return "", false
	}
	if err != nil {
		r.log.Error("api: authenticate", "err", err)
		writeError(w, http.StatusServiceUnavailable, "internal", "relay storage unavailable")
		return "", false
	}
	return owner, true
}

// visible loads an event the caller may see; foreign events are reported
// as missing so their ids are not confirmed.
func (r *Relay) visible(w http.ResponseWriter, req *http.Request, owner, id string) (*wire.EventRecord, bool) {
	rec, err := r.st.GetEvent(req.Context(), id)
	if err == nil && owner != "" {
		ep, epErr := r.st.GetEndpoint(req.Context(), rec.Request.Endpoint)
		if epErr != nil || ep.Owner != owner {
			err = store.ErrNotFound
		}
	}
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no event "+id)
		return nil, false
	}
	if err != nil {
		r.log.Error("api: get event", "id", id, "err", err)
		writeError(w, http.StatusServiceUnavailable, "internal", "relay storage unavailable")
		return nil, false
	}
	return rec, true
}

// serveList answers GET /api/v1/events: one page of at most
// wire.MaxListPage events, with the cursor of the next page when there is
// one, so a caller asking for more learns to page instead of getting a
// silently shorter list.
func (r *Relay) serveList(w http.ResponseWriter, req *http.Request) {
	owner, ok := r.apiAuth(w, req)
	if !ok {
		return
	}
	q := req.URL.Query()
	lq := store.ListQuery{Endpoint: q.Get("endpoint"), Owner: owner, Before: q.Get("before"), After: q.Get("after"),
		State: q.Get("state"), OldestFirst: q.Get("order") == "oldest", Limit: 50}
	if o := q.Get("order"); o != "" && o != "oldest" && o != "newest" {
		writeError(w, http.StatusBadRequest, "bad_request", "order must be newest or oldest")
		return
	}
	if s := q.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			writeError(w, http.StatusBadRequest, "bad_request", "limit must be a positive number")
			return
		}
		lq.Limit = min(n, wire.MaxListPage)
	}
	switch lq.State {
	case "", wire.StatePending, wire.StateDelivered, wire.StateFailed:
	default:
		writeError(w, http.StatusBadRequest, "bad_request", "state must be pending, delivered or failed")
		return
	}
	for _, p := range []struct {
		name string
		t    *time.Time
	}{{"since", &lq.Since}, {"until", &lq.Until}} {
		if s := q.Get(p.name); s != "" {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				writeError(w, http.StatusBadRequest, "bad_request", p.name+" must be an RFC 3339 time")
				return
			}
			*p.t = t
		}
	}
	if lq.Endpoint != "" {
		// A name no endpoint can have is a mistake to point out, not a filter
		// that quietly matches nothing.
		if err := wire.CheckEndpointName(lq.Endpoint); err != nil {
			writeError(w, http.StatusBadRequest, wire.CodeBadEndpoint, err.Error())
			return
		}
	}
	if lq.Endpoint != "" && owner != "" {
		ep, err := r.st.GetEndpoint(req.Context(), lq.Endpoint)
		if err == nil && ep.Owner != owner {
			r.log.Warn("api: refused: endpoint belongs to another token", r.clientAttrs(req, "endpoint", lq.Endpoint, "token", owner)...)
			writeError(w, http.StatusForbidden, "forbidden", "endpoint "+lq.Endpoint+" belongs to another token")
			return
		}
	}
	for _, id := range []string{lq.Before, lq.After} {
		if id != "" {
			if _, ok := r.visible(w, req, owner, id); !ok {
				return
			}
		}
	}
	want := lq.Limit
	lq.Limit++ // one more tells whether there is a next page
	evs, err := r.st.ListEvents(req.Context(), lq)
	if errors.Is(err, store.ErrNotFound) { // a cursor deleted meanwhile
		writeError(w, http.StatusNotFound, "not_found", "no event "+lq.Before+lq.After)
		return
	}
	if err != nil {
		r.log.Error("api: list events", "err", err)
		writeError(w, http.StatusServiceUnavailable, "internal", "relay storage unavailable")
		return
	}
	list := wire.EventList{Events: evs}
	if len(evs) > want {
		list.Events = evs[:want]
		list.Next = evs[want-1].Request.ID
	}
	writeJSON(w, http.StatusOK, list)
}

func (r *Relay) serveShow(w http.ResponseWriter, req *http.Request) {
	owner, ok := r.apiAuth(w, req)
	if !ok {
		return
	}
	rec, ok := r.visible(w, req, owner, req.PathValue("id"))
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, rec)
}

// serveReplay records a replay a CLI made of a stored event: a new,
// already delivered event with ReplayOf set.
func (r *Relay) serveReplay(w http.ResponseWriter, req *http.Request) {
	owner, ok := r.apiAuth(w, req)
	if !ok {
		return
	}
	orig, ok := r.visible(w, req, owner, req.PathValue("id"))
	if !ok {
		return
	}
	var in wire.ReplayRecord
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, 2*r.cfg.MaxBody+1<<20))
	if err == nil {
		err = json.Unmarshal(body, &in)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "bad_request", "replay record: "+err.Error())
		return
	}
	in.RestoreRaw()
	ev := in.Request
	if ev == nil {
		ev = orig.Request
	}
	c := *ev
	c.ID = r.ids.next()
	c.Endpoint = orig.Request.Endpoint
	c.ReplayOf = orig.Request.ID
	c.ReceivedAt = r.cfg.Now().UTC()
	if c.Path == "" {
		c.Path = "/"
	}
	if c.Headers == nil {
		c.Headers = capture.Headers{}
	}
	at := r.cfg.Now().UTC()
	if err := r.st.InsertDelivered(req.Context(), &c, in.Response, at); err != nil {
		r.log.Error("api: store replay", "err", err)
		writeError(w, http.StatusServiceUnavailable, "internal", "relay storage unavailable")
		return
	}
	writeJSON(w, http.StatusCreated, wire.EventRecord{Request: &c, State: wire.RecordState(wire.StateDelivered, in.Response), Response: in.Response, DeliveredAt: &at})
}
