package wire_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/hookctl/hookctl/tunnel/wire"
)

func TestEndpointNameRule(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"0", true},
		{"brave-otter-42", true},
		{"9lives", true},
		{"a-", true}, // a trailing '-' has always been allowed; stored names keep working
		{"a--b", true},
		{strings.Repeat("a", 63), true},
		{"", false},
		{strings.Repeat("a", 64), false},
		{"-a", false},
		{"-", false},
		{"Alice", false},
		{"alicE", false},
		{"a_b", false},
		{"a.b", false},
		{"a/b", false},
		{"a b", false},
		{"a%2fb", false},
		{"caf\u00e9", false},
		{"a\x00", false},
		{"NOT valid!", false},
	} {
		if got := wire.ValidEndpointName(tc.name); got != tc.ok {
			t.Errorf("ValidEndpointName(%q) = %v, want %v", tc.name, got, tc.ok)
		}
		err := wire.CheckEndpointName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("CheckEndpointName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err == nil {
			continue
		}
		var ne *wire.EndpointNameError
		if !errors.As(err, &ne) || ne.Name != tc.name {
			t.Errorf("CheckEndpointName(%q) = %#v, want an *EndpointNameError naming it", tc.name, err)
		}
		if !strings.Contains(err.Error(), wire.EndpointNameRule) {
			t.Errorf("CheckEndpointName(%q) = %q, does not name the rule", tc.name, err)
		}
	}
}

// A refusal quotes a long name only in part.
func TestEndpointNameErrorShortensLongNames(t *testing.T) {
	msg := wire.CheckEndpointName(strings.Repeat("x", 10000)).Error()
	if len(msg) > 300 || !strings.Contains(msg, "(10000 bytes)") || !strings.Contains(msg, wire.EndpointNameRule) {
		t.Errorf("message of %d bytes: %.300s", len(msg), msg)
	}
}
