package replay

import (
	"testing"
)

// BenchmarkRunCount is --count b.N --concurrency 8 against a local app on
// 127.0.0.1 (1 KiB body, keep-alive): the cost of one replayed copy.
func BenchmarkRunCount(b *testing.B) {
	a := newAppB(b)
	r := captured()
	r.Body = make([]byte, 1024)
	b.SetBytes(int64(len(r.Body)))
	b.ResetTimer()
	res, err := Run(b.Context(), r, Options{Target: a, Count: b.N, Concurrency: 8})
	if err != nil {
		b.Fatal(err)
	}
	for _, x := range res {
		if x.Response.Status != 202 {
			b.Fatalf("status %d %s", x.Response.Status, x.Response.Error)
		}
	}
}
