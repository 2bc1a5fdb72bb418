package tunnel

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/tunnel/capture"
)

func TestParseRoute(t *testing.T) {
	for _, tc := range []struct {
		in                        string
		kind, field, glob, target string // field: the prefix for path routes
		str                       string // Route.String
	}{
		{"/github=3001", RoutePath, "/github", "", "http://localhost:3001", "/github"},
		{"/stripe/=localhost:3003", RoutePath, "/stripe", "", "http://localhost:3003", "/stripe"},
		{"/=3000", RoutePath, "/", "", "http://localhost:3000", "/"},
		{"path:/a=3000", RoutePath, "/a", "", "http://localhost:3000", "/a"},
		{"header:X-GitHub-Event=push=localhost:3001", RouteHeader, "X-GitHub-Event", "push", "http://localhost:3001", "header:X-GitHub-Event=push"},
		{"Header:x-github-event=pull_request*=3001", RouteHeader, "x-github-event", "pull_request*", "http://localhost:3001", "header:x-github-event=pull_request*"},
		{"json:type=invoice.*=localhost:3002", RouteJSON, "type", "invoice.*", "http://localhost:3002", "json:type=invoice.*"},
		{"json:data.object.type=invoice.paid=http://127.0.0.1:9/in", RouteJSON, "data.object.type", "invoice.paid", "http://127.0.0.1:9/in", "json:data.object.type=invoice.paid"},
		// A target may hold '=' (a query); a '=' in the value is escaped.
		{"header:X-Sig=a\\=b=3001/h?token=x=y", RouteHeader, "X-Sig", "a=b", "http://localhost:3001/h?token=x=y", "header:X-Sig=a\\=b"},
		{"json:items.0.kind=*=3001", RouteJSON, "items.0.kind", "*", "http://localhost:3001", "json:items.0.kind=*"},
		{"json:k=lit\\*star\\\\=3001", RouteJSON, "k", "lit\x00star\\", "http://localhost:3001", "json:k=lit\\*star\\\\"},
	} {
		r, err := ParseRoute(tc.in)
		if err != nil {
			t.Errorf("ParseRoute(%q): %v", tc.in, err)
			continue
		}
		field := r.Field
		if r.Kind == RoutePath {
			field = r.Prefix
		}
		if r.Kind != tc.kind || field != tc.field || r.Glob != tc.glob || r.Target.String() != tc.target || r.String() != tc.str {
			t.Errorf("ParseRoute(%q) = %s %q %q %s (%s), want %s %q %q %s (%s)", tc.in, r.Kind, field, r.Glob, r.Target, r, tc.kind, tc.field, tc.glob, tc.target, tc.str)
		}
	}

	// Refused, each naming the part that is wrong.
	for _, tc := range []struct{ in, want string }{
		{"github=3001", `the prefix "github" must start with '/'`},
		{"localhost:3001", "want /PREFIX=TARGET, header:NAME=GLOB=TARGET or json:FIELD=GLOB=TARGET"},
		{"query:x=1=3000", `unknown kind "query"`},
		{"path:a=3000", "the prefix must start with '/'"},
		{"/github", `no '=' after "/github"`},
		{"/github=", "no target after the last '='"},
		{"/github=ftp://x", "the scheme must be http or https"},
		{"header:=push=3001", "no header name before '='"},
		{"header:X Event=push=3001", `"X Event" is not a header name`},
		{"header:X-GitHub-Event", `no '=' after "X-GitHub-Event"`},
		{"header:X-GitHub-Event=push", `no '=TARGET' after the value "push"`},
		{"header:X-GitHub-Event=push\\=3001", `no '=TARGET' after the value "push\=3001"`},
		{"header:X-GitHub-Event==3001", "empty value after \"X-GitHub-Event=\"; use * to match any value"},
		{"header:X-GitHub-Event=push=", "no target after the last '='"},
		{"header:X-GitHub-Event=push=99999", `port "99999" is out of range`},
		{"header:X=a\\b=3001", `unknown escape \b`},
		{"header:X=ab\\", "lone backslash"},
		{"header:X=a\x00b=3001", "holds a NUL byte"},
		{"json:=x=3001", "no field before '='"},
		{"json:data..type=x=3001", `field "data..type" has an empty segment`},
		{"json:.type=x=3001", `field ".type" has an empty segment`},
		{"json:type=invoice.*", `no '=TARGET' after the value "invoice.*"`},
	} {
		_, err := ParseRoute(tc.in)
		if err == nil {
			t.Errorf("ParseRoute(%q) accepted", tc.in)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "route "+quote(tc.in)+": ") {
			t.Errorf("ParseRoute(%q) = %v, want it to name the route and say %q", tc.in, err, tc.want)
		}
	}
}

func TestPickRoute(t *testing.T) {
	def, _ := capture.ParseTarget("3000")
	routes := mustRoutes(t,
		"/github=3001",
		"header:X-GitHub-Event=pull_request*=3002",
		"json:data.object.type=invoice.*=3003",
		"json:type=*=3004",
		"/github/app=3005",
		"json:items.1.n=2=3006",
		"json:live=true=3007",
		"json:gone=null=3008",
	)
	f, err := NewForwarder(ForwarderConfig{Target: def, Routes: routes})
	if err != nil {
		t.Fatal(err)
	}
	h := func(kv ...string) capture.Headers {
		var hs capture.Headers
		for i := 0; i < len(kv); i += 2 {
			hs = append(hs, capture.Header{Name: kv[i], Value: kv[i+1]})
		}
		return hs
	}
	for _, tc := range []struct {
		name  string
		req   capture.Request
		route string // "" for the default
		port  string
	}{
		{"path", capture.Request{Path: "/github/push"}, "/github", "3001"},
		{"longer path prefix given later", capture.Request{Path: "/github/app/x"}, "/github/app", "3005"},
		{"path before header, in order", capture.Request{Path: "/github", Headers: h("X-GitHub-Event", "pull_request")}, "/github", "3001"},
		{"header glob, any case", capture.Request{Path: "/gh", Headers: h("x-github-event", "pull_request_review")}, "header:X-GitHub-Event=pull_request*", "3002"},
		{"second value of a header", capture.Request{Path: "/gh", Headers: h("X-GitHub-Event", "push", "X-GITHUB-EVENT", "pull_request")}, "header:X-GitHub-Event=pull_request*", "3002"},
		{"header glob no match", capture.Request{Path: "/gh", Headers: h("X-GitHub-Event", "push")}, "", "3000"},
		{"nested JSON field", capture.Request{Path: "/s", Body: []byte(`{"type":"x","data":{"object":{"type":"invoice.paid"}}}`)}, "json:data.object.type=invoice.*", "3003"},
		{"first JSON match wins", capture.Request{Path: "/s", Body: []byte(`{"type":"invoice.paid"}`)}, "json:type=*", "3004"},
		{"array index and number", capture.Request{Path: "/s", Body: []byte(`{"items":[{"n":1},{"n":2}]}`)}, "json:items.1.n=2", "3006"},
		{"boolean", capture.Request{Path: "/s", Body: []byte(` {"live": true} `)}, "json:live=true", "3007"},
		{"null", capture.Request{Path: "/s", Body: []byte(`{"gone":null}`)}, "json:gone=null", "3008"},
		{"an object is no value", capture.Request{Path: "/s", Body: []byte(`{"type":{"a":1}}`)}, "", "3000"},
		{"not JSON", capture.Request{Path: "/s", Body: []byte(`type=invoice.paid`)}, "", "3000"},
		{"JSON then more", capture.Request{Path: "/s", Body: []byte(`{"type":"a"} {"type":"b"}`)}, "", "3000"},
		{"empty body", capture.Request{Path: "/s"}, "", "3000"},
		{"trailing comma", capture.Request{Path: "/s", Body: []byte(`{"type":"a",}`)}, "", "3000"},
		{"cut short", capture.Request{Path: "/s", Body: []byte(`{"type":"a"`)}, "", "3000"},
		{"single quotes", capture.Request{Path: "/s", Body: []byte(`{'type':'a'}`)}, "", "3000"},
		{"bad escape", capture.Request{Path: "/s", Body: []byte(`{"type":"a\q"}`)}, "", "3000"},
		{"trailing garbage", capture.Request{Path: "/s", Body: []byte(`{"type":"a"}x`)}, "", "3000"},
		{"escaped value", capture.Request{Path: "/s", Body: []byte(`{"type":"invoice\u002epaid"}`)}, "json:type=*", "3004"},
	} {
		r, ok := f.Pick(&tc.req)
		if ok != (tc.route != "") || r.String() != tc.route {
			t.Errorf("%s: Pick = %q, %v; want %q", tc.name, r.String(), ok, tc.route)
		}
		if got := f.Target(&tc.req).Port(); got != tc.port {
			t.Errorf("%s: Target port %s, want %s", tc.name, got, tc.port)
		}
	}

	// --route-only: nothing is the default; Targets says so.
	only, err := NewForwarder(ForwarderConfig{Routes: routes[:1], RouteOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	if u := only.Target(&capture.Request{Path: "/x"}); u != nil {
		t.Errorf("route-only default target %v", u)
	}
	if got := strings.Join(only.Targets(), ", "); got != "(unrouted: skipped), /github=http://localhost:3001" {
		t.Errorf("Targets = %s", got)
	}
	resp, err := only.Deliver(t.Context(), &capture.Request{Path: "/x"})
	if err != nil || !resp.Skipped || resp.Error != NotRouted || resp.Status != 0 {
		t.Errorf("route-only Deliver of an unrouted request = %+v, %v", resp, err)
	}
	if _, err := NewForwarder(ForwarderConfig{RouteOnly: true}); err == nil {
		t.Error("route-only forwarder without routes accepted")
	}
}

// mustRoutes parses --route values.
func mustRoutes(t testing.TB, specs ...string) []Route {
	t.Helper()
	var routes []Route
	for _, s := range specs {
		r, err := ParseRoute(s)
		if err != nil {
			t.Fatal(err)
		}
		routes = append(routes, r)
	}
	return routes
}

// BenchmarkPick: the cost routing adds per event, for a Stripe-sized body
// (about 3 KB of JSON) against three header and JSON routes.
func BenchmarkPick(b *testing.B) {
	obj := map[string]any{"type": "invoice.paid", "id": "in_1"}
	for i := range 60 {
		obj[fmt.Sprintf("field_%02d", i)] = strings.Repeat("x", 30)
	}
	body, _ := json.Marshal(map[string]any{"id": "evt_1", "type": "invoice.paid", "data": map[string]any{"object": obj}})
	f, err := NewForwarder(ForwarderConfig{Target: &url.URL{Scheme: "http", Host: "localhost:3000"}, Routes: mustRoutes(b,
		"header:X-GitHub-Event=push=3001",
		"json:type=charge.*=3002",
		"json:data.object.type=invoice.*=3003",
	)})
	if err != nil {
		b.Fatal(err)
	}
	hdrs := capture.Headers{{Name: "Content-Type", Value: "application/json"}, {Name: "Stripe-Signature", Value: "t=1,v1=abc"}}
	for _, bc := range []struct {
		name string
		req  capture.Request
		want string
	}{
		{"header", capture.Request{Path: "/gh", Headers: capture.Headers{{Name: "X-GitHub-Event", Value: "push"}}, Body: body}, "header:X-GitHub-Event=push"},
		{"json-nested", capture.Request{Path: "/s", Headers: hdrs, Body: body}, "json:data.object.type=invoice.*"},
		{"not-json", capture.Request{Path: "/s", Headers: hdrs, Body: []byte("a=b&c=d")}, ""},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.req.Body)))
			b.ReportAllocs()
			for b.Loop() {
				if r, _ := f.Pick(&bc.req); r.String() != bc.want {
					b.Fatalf("Pick = %s, want %s", r, bc.want)
				}
			}
		})
	}
}

// TestDeliverOnRoute: an answer names the route it took, and a delivery
// error on a route still reads as the engine's (not sent: the app is down)
// while carrying the route for the answer recorded from it.
func TestDeliverOnRoute(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusAccepted) }))
	defer app.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	f, err := NewForwarder(ForwarderConfig{Target: &url.URL{Scheme: "http", Host: down}, Routes: mustRoutes(t,
		"header:X-Kind=up=http://"+app.Listener.Addr().String(),
		"header:X-Kind=down=http://"+down,
	)})
	if err != nil {
		t.Fatal(err)
	}
	up := &capture.Request{Method: "POST", Path: "/", Headers: capture.Headers{{Name: "X-Kind", Value: "up"}}}
	resp, err := f.Deliver(t.Context(), up)
	if err != nil || resp.Status != http.StatusAccepted || resp.Route != "header:X-Kind=up" {
		t.Fatalf("routed delivery = %+v, %v", resp, err)
	}
	_, err = f.Deliver(t.Context(), &capture.Request{Method: "POST", Path: "/", Headers: capture.Headers{{Name: "X-Kind", Value: "down"}}})
	var de *capture.DeliveryError
	if !errors.As(err, &de) || !de.NotSent() || routeOf(err) != "header:X-Kind=down" || err.Error() != de.Error() {
		t.Errorf("delivery to a down app on a route: %v (route %q)", err, routeOf(err))
	}
	_, err = f.Deliver(t.Context(), &capture.Request{Method: "POST", Path: "/"})
	if !errors.As(err, &de) || routeOf(err) != "" {
		t.Errorf("delivery to the default target: %v (route %q)", err, routeOf(err))
	}
}
