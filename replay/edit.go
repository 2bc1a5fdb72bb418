package replay

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/hookctl/hookctl/tunnel/capture"
)

// ErrEditAborted means the editor failed or the file was saved unchanged:
// nothing is sent.
var ErrEditAborted = errors.New("edit aborted: nothing sent")

// ErrNoEditor means neither $VISUAL nor $EDITOR names an editor.
var ErrNoEditor = errors.New("no editor: set $EDITOR (or $VISUAL)")

// EditFile is a captured request written to a temporary file in raw HTTP form
// for the user to edit. The CLI runs the editor in the foreground; the
// inspector hands the command to tea.ExecProcess. Both then call Result.
type EditFile struct {
	Path string
	orig *capture.Request
	data []byte
}

// NewEditFile writes r to a new file in dir (the system temp dir when empty).
func NewEditFile(dir string, r *capture.Request) (*EditFile, error) {
	var buf bytes.Buffer
	if err := WriteRaw(&buf, r, nil); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "hookctl-edit-*.http")
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	defer f.Close()
	if _, err := f.Write(buf.Bytes()); err != nil {
		os.Remove(f.Name())
		return nil, fmt.Errorf("edit: %w", err)
	}
	return &EditFile{Path: f.Name(), orig: r, data: buf.Bytes()}, nil
}

// Command returns the editor command for the file. editor is the user's
// $VISUAL or $EDITOR, possibly with arguments ("code --wait").
func (e *EditFile) Command(editor string) (*exec.Cmd, error) {
	args := strings.Fields(editor)
	if len(args) == 0 {
		return nil, ErrNoEditor
	}
	if _, err := exec.LookPath(args[0]); err != nil {
		return nil, fmt.Errorf("editor %q not found: %w", args[0], ErrNoEditor)
	}
	return exec.Command(args[0], append(args[1:], e.Path)...), nil
}

// Result reads the edited file back and removes it. editorErr is the
// editor's exit error: a failed editor or an unchanged file yields
// ErrEditAborted. The edited request keeps the original's id, endpoint,
// remote address and receive time; a trailing newline the editor added to a
// body that had none is removed.
func (e *EditFile) Result(editorErr error) (*capture.Request, error) {
	defer os.Remove(e.Path)
	if editorErr != nil {
		return nil, fmt.Errorf("%w (editor: %v)", ErrEditAborted, editorErr)
	}
	data, err := os.ReadFile(e.Path)
	if err != nil {
		return nil, fmt.Errorf("edit: %w", err)
	}
	if bytes.Equal(data, e.data) || len(bytes.TrimSpace(data)) == 0 {
		return nil, ErrEditAborted
	}
	r, err := ReadRaw(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("edited request: %w", err)
	}
	if !bytes.HasSuffix(e.orig.Body, []byte("\n")) {
		r.Body = bytes.TrimSuffix(r.Body, []byte("\n"))
		r.Body = bytes.TrimSuffix(r.Body, []byte("\r"))
	}
	if len(r.Body) == 0 {
		r.Body = nil
	}
	r.ID, r.Endpoint, r.RemoteAddr, r.ReceivedAt = e.orig.ID, e.orig.Endpoint, e.orig.RemoteAddr, e.orig.ReceivedAt
	r.ReplayOf = e.orig.ReplayOf
	if r.Proto == "" {
		r.Proto = e.orig.Proto
	}
	return r, nil
}

// BodyChanged reports whether edited's body differs from orig's.
func BodyChanged(orig, edited *capture.Request) bool {
	return !bytes.Equal(orig.Body, edited.Body)
}

// SignatureHeaders returns the names of headers in r that look like a
// webhook signature (Stripe-Signature, X-Hub-Signature-256,
// X-Shopify-Hmac-Sha256, Webhook-Signature, ...). An edited body invalidates
// them; without a verifier this is how an edit knows to warn.
func SignatureHeaders(r *capture.Request) []string {
	var out []string
	for _, h := range r.Headers {
		n := strings.ToLower(h.Name)
		if strings.Contains(n, "signature") || strings.Contains(n, "hmac") {
			out = append(out, h.Name)
		}
	}
	return out
}
