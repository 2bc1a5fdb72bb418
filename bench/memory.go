package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
	"time"
)

func procStatusKB(pid int, field string) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field); ok {
			f := strings.Fields(v)
			n, err := strconv.ParseInt(f[0], 10, 64)
			return n * 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// rss is the relay process's resident set, from /proc.
func (p *relayProc) rss() (int64, error) { return procStatusKB(p.cmd.Process.Pid, "VmRSS:") }

func hwm(pid int) (float64, error) {
	v, err := procStatusKB(pid, "VmHWM:")
	return mib(v), err
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// memory describes a process's memory now, from /proc: peak and current
// resident set, and where the resident pages are (smaps).
func memory(pid int) string {
	peak, err := procStatusKB(pid, "VmHWM:")
	if err != nil {
		return "?"
	}
	rss, err := procStatusKB(pid, "VmRSS:")
	if err != nil {
		return "?"
	}
	out := fmt.Sprintf("VmHWM %.1f MiB, VmRSS %.1f MiB", mib(peak), mib(rss))
	if m, err := readSmaps(pid); err == nil {
		out += " (" + m.String() + ")"
	}
	return out
}

// goArenaStart and goArenaEnd bound where the Go runtime of linux/amd64
// puts its heap arenas (heap spans and goroutine stacks): from 0xc000000000
// up without heap base randomization, anywhere below 1<<46 with it (Go
// 1.26's default). The kernel places mappings without an address hint, such
// as C allocations and the runtime's metadata, near the top of the 47-bit
// space instead, and a non-PIE binary (and its bss) sits below 4 GiB.
const goArenaStart, goArenaEnd = 1 << 32, 1 << 46

// smapsSplit is a process's resident memory by kind, in bytes.
type smapsSplit struct {
	GoArena   int64 // anonymous pages in the Go heap arenas: heap and stacks, live or not yet returned
	OtherAnon int64 // other anonymous pages: C allocations (modernc's libc, which SQLite uses), runtime metadata
	File      int64 // file pages: the binary, mapped files
}

func (m smapsSplit) String() string {
	return fmt.Sprintf("Go heap arenas %.1f, other anonymous %.1f, file %.1f MiB", mib(m.GoArena), mib(m.OtherAnon), mib(m.File))
}

// sampleSmaps reads pid's smaps every interval until stop, which returns
// the sample with the most anonymous memory.
func sampleSmaps(pid int, every time.Duration) (stop func() smapsSplit) {
	done := make(chan struct{})
	res := make(chan smapsSplit, 1)
	go func() {
		var top smapsSplit
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if m, err := readSmaps(pid); err == nil && m.GoArena+m.OtherAnon > top.GoArena+top.OtherAnon {
				top = m
			}
			select {
			case <-done:
				res <- top
				return
			case <-t.C:
			}
		}
	}()
	return func() smapsSplit { close(done); return <-res }
}

func readSmaps(pid int) (smapsSplit, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/smaps", pid))
	if err != nil {
		return smapsSplit{}, err
	}
	defer f.Close()
	return parseSmaps(f)
}

// parseSmaps sums the Rss and Anonymous fields of /proc/PID/smaps by
// mapping kind.
func parseSmaps(r io.Reader) (smapsSplit, error) {
	var m smapsSplit
	sc := bufio.NewScanner(r)
	inArena := false
	var rss int64
	for sc.Scan() {
		line := sc.Text()
		k, v, ok := strings.Cut(line, ":")
		if !ok || strings.Contains(k, " ") || strings.Contains(k, "-") {
			// A mapping's first line: "c000000000-c004000000 rw-p ...".
			lo, _, ok := strings.Cut(strings.Fields(line)[0], "-")
			if !ok {
				continue
			}
			start, err := strconv.ParseUint(lo, 16, 64)
			if err != nil {
				return m, fmt.Errorf("smaps: %q", line)
			}
			inArena = start >= goArenaStart && start < goArenaEnd
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch k {
		case "Rss":
			rss = n << 10
		case "Anonymous":
			anon := n << 10
			if inArena {
				m.GoArena += anon
			} else {
				m.OtherAnon += anon
			}
			m.File += rss - anon
		}
	}
	return m, sc.Err()
}

// gctraceRe matches the heap after GC and the stacks of a GODEBUG=gctrace=1
// line: "..., 130->131->70 MB, 136 MB goal, 50 MB stacks, ...".
var gctraceRe = regexp.MustCompile(`->(\d+) MB, \d+ MB goal, (\d+) MB stacks`)

// parseGCTrace returns the live heap and the stacks, in MB, of a gctrace
// line.
func parseGCTrace(line string) (live, stacks float64, ok bool) {
	m := gctraceRe.FindStringSubmatch(line)
	if m == nil {
		return 0, 0, false
	}
	live, _ = strconv.ParseFloat(m[1], 64)
	stacks, _ = strconv.ParseFloat(m[2], 64)
	return live, stacks, true
}

// gcHeap is the heap figures of a GODEBUG=gctrace=1 line, in MB: at the
// start of the GC, at its end, live after it, and the goal.
type gcHeap struct{ Start, End, Live, Goal float64 }

func (h gcHeap) max(o gcHeap) gcHeap {
	return gcHeap{max(h.Start, o.Start), max(h.End, o.End), max(h.Live, o.Live), max(h.Goal, o.Goal)}
}

var gcHeapRe = regexp.MustCompile(`(\d+)->(\d+)->(\d+) MB, (\d+) MB goal`)

// parseGCHeap reads the heap figures of a gctrace line.
func parseGCHeap(line string) (gcHeap, bool) {
	m := gcHeapRe.FindStringSubmatch(line)
	if m == nil {
		return gcHeap{}, false
	}
	var f [4]float64
	for i := range f {
		f[i], _ = strconv.ParseFloat(m[i+1], 64)
	}
	return gcHeap{f[0], f[1], f[2], f[3]}, true
}

// heapNote says what the relay's gctrace lines showed, to set against its
// VmHWM: the rest is Go runtime overhead, stacks, freed heap not yet given
// back, and SQLite's own allocations (modernc's libc, outside the Go heap).
func (p *relayProc) heapNote() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gctrace == "" {
		return "relay: no GC ran"
	}
	h := p.gcPeak
	return fmt.Sprintf("relay's Go heap over the scenario (GODEBUG=gctrace=1): at most %.0f MB at a GC's start, %.0f MB live after one, %.0f MB goal", h.Start, h.Live, h.Goal)
}
