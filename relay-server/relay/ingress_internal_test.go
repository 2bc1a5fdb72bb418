package relay

import (
	"bytes"
	"errors"
	"io"
	"testing"
	"testing/iotest"
)

// TestReadBody: readBody returns what io.ReadAll does, whatever the
// declared length says.
func TestReadBody(t *testing.T) {
	errBoom := errors.New("boom")
	for _, size := range []int{0, 1, 511, 512, 1024, 4097, 64 << 10, 64<<10 + 1, 3*64<<10 + 7} {
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16+1)[:size]
		for _, declared := range []int64{-1, 0, int64(size), int64(size) + 1, int64(size) * 2} {
			for name, r := range map[string]func() io.Reader{
				"whole":    func() io.Reader { return bytes.NewReader(data) },
				"one byte": func() io.Reader { return iotest.OneByteReader(bytes.NewReader(data)) },
				"data+EOF": func() io.Reader { return iotest.DataErrReader(bytes.NewReader(data)) },
			} {
				got, err := readBody(r(), declared)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("size %d, declared %d, %s: got %d bytes, %v", size, declared, name, len(got), err)
				}
			}
			got, err := readBody(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(errBoom)), declared)
			if !errors.Is(err, errBoom) || !bytes.Equal(got, data) {
				t.Fatalf("size %d, declared %d, error: got %d bytes, %v", size, declared, len(got), err)
			}
		}
	}
}
