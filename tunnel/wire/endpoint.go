package wire

import "fmt"

// The endpoint name rule, shared by every place that takes or makes a name:
// the relay's ingress (/h/{endpoint}/...), the hello, the events API's
// endpoint filter, the relay's generated names, `hookctl listen --endpoint`
// and `relay-server events purge --endpoint`. A name is 1 to
// EndpointNameMax bytes of a-z, 0-9 and '-', the first a letter or digit:
// safe unescaped in a URL path, a DNS label's alphabet and a file name, and
// one spelling per name (no case folding to get wrong).
const (
	EndpointNameMax = 63
	// EndpointNameRule says the rule in the words every refusal uses.
	EndpointNameRule = "1-63 characters of a-z, 0-9 and '-', starting with a letter or digit"
)

// ValidEndpointName reports whether name follows the endpoint name rule.
func ValidEndpointName(name string) bool {
	if name == "" || len(name) > EndpointNameMax || name[0] == '-' {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// EndpointNameError is a name that breaks the endpoint name rule; its
// message names the rule.
type EndpointNameError struct{ Name string }

func (e *EndpointNameError) Error() string {
	name := fmt.Sprintf("%q", e.Name)
	if len(e.Name) > 2*EndpointNameMax {
		// A refusal echoes what the sender wrote, not kilobytes of it.
		name = fmt.Sprintf("%q... (%d bytes)", e.Name[:EndpointNameMax], len(e.Name))
	}
	return fmt.Sprintf("endpoint name %s not allowed: use %s", name, EndpointNameRule)
}

// CheckEndpointName returns nil for a name that follows the endpoint name
// rule, else an *EndpointNameError.
func CheckEndpointName(name string) error {
	if ValidEndpointName(name) {
		return nil
	}
	return &EndpointNameError{Name: name}
}
