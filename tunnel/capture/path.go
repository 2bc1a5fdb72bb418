package capture

import (
	"fmt"
	"strconv"
	"strings"
)

// Dot segments. A captured path is delivered under the target's path
// prefix (--forward localhost:3000/api), so a path with "." or ".." segments
// would mean a different place to every server that resolves them:
// "/../../admin" under "/api" is "/admin" to the app. Resolving them would
// change the path the sender sent, so hookctl refuses them instead, at both
// ends: the relay answers 400 and stores nothing (the sender never got a
// 2xx, nothing acknowledged is lost), and a delivery of a path that has one
// (an older capture, an edited replay) fails before anything is sent.
//
// Servers disagree on what counts, so the rule is wide: a segment is "." or
// ".." after percent-decoding (%2e, %2E), with "/", "%2F" and "\" (which
// some servers read as "/") all separating segments. Curl and browsers
// resolve dot segments before sending, so no ordinary sender is refused.

// CheckPath returns an error naming the dot segment in p, a path as sent
// (escaped), or nil when it has none.
func CheckPath(p string) error {
	if !strings.Contains(p, ".") && !strings.Contains(p, "%2") {
		return nil // the common case, without decoding
	}
	seg := make([]byte, 0, 8)
	end := func() error {
		if s := string(seg); s == "." || s == ".." {
			return fmt.Errorf("path %q has a %q segment, which would resolve to another path: send the resolved path", p, s)
		}
		seg = seg[:0]
		return nil
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '%' && i+2 < len(p) {
			if d, err := strconv.ParseUint(p[i+1:i+3], 16, 8); err == nil {
				c = byte(d)
				i += 2
			}
		}
		if c == '/' || c == '\\' {
			if err := end(); err != nil {
				return err
			}
			continue
		}
		if len(seg) < 3 { // only a segment's first bytes can make it a dot segment
			seg = append(seg, c)
		} else {
			seg = append(seg[:2], 'x')
		}
	}
	return end()
}
