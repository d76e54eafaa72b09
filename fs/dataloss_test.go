package fs

import (
	"crypto/sha256"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

// TestDataLossInvariant commits files of 0 B to 16 MiB through the mount,
// with a fault injected into about one commit in five: the data
// connection dropped or the disk full part way, the control connection
// closed, a transfer that stalls. For every close that returned 0 the
// server holds exactly the bytes written; for every one that failed it
// holds the previous version or nothing, never a part, and the bytes are
// in a staged copy, which the next mount reports.
func TestDataLossInvariant(t *testing.T) {
	commits := 1000
	if testing.Short() {
		commits = 150
	}
	cache := t.TempDir()
	cmdLog := &testutil.Buffer{}
	e := newEnv(t, func(string) {}, []func(*ftpd.Config){func(c *ftpd.Config) { c.CommandLog = cmdLog }}, func(o *Options) {
		o.CacheDir = cache
		o.Conn.Timeout = 400 * time.Millisecond
	})
	r := mrand.New(mrand.NewPCG(42, 7))
	committed := map[string][32]byte{} // name → what the server must hold
	var failed [][32]byte              // contents of failed commits
	var ok, faults, refused int
	spent := map[string]time.Duration{}
	history := map[string][]string{}
	for i := range commits {
		name := fmt.Sprintf("f%02d", r.IntN(40))
		var size int
		switch p := r.IntN(100); {
		case p < 10:
			size = 0
		case p < 75:
			size = r.IntN(64 << 10)
		case p < 97:
			size = r.IntN(1 << 20)
		default:
			size = r.IntN(16 << 20)
		}
		data := testutil.RandBytes(uint64(i), size)
		sum := sha256.Sum256(data)
		fault, kind := ftpd.Faults{}, "none"
		if r.IntN(5) == 0 {
			faults++
			// A byte count of 0 turns the data faults off: at least 1.
			// Stalls cost a timeout each: one fault in ten.
			switch p := r.IntN(10); {
			case p < 4:
				fault.DropDataAfter, kind = 1+int64(r.IntN(size+1)), "drop data"
			case p < 7:
				fault.StorFullAfter, kind = 1+int64(r.IntN(size+1)), "disk full"
			case p < 9:
				fault.CloseControlAfter, kind = 1+r.IntN(4), "close control"
			default:
				fault.Stall, fault.StallAfter, kind = true, int64(r.IntN(size+1)), "stall"
			}
		}
		e.srv.SetFaults(fault)
		t0 := time.Now()
		stage, err := writeAndClose(filepath.Join(e.mnt, name), data)
		e.srv.SetFaults(ftpd.Faults{})
		spent[kind] += time.Since(t0)
		history[name] = append(history[name], fmt.Sprintf("#%d %d bytes, %s: %s %v", i, size, kind, stage, err))
		if d := time.Since(t0); d > 10*time.Second+time.Duration(size>>20)*time.Second {
			t.Fatalf("commit %d (%d bytes, fault %+v) took %v", i, size, fault, d)
		}
		switch {
		case err == nil:
			ok++
			committed[name] = sum
		case stage == "close":
			// The program wrote it all: the bytes must be kept.
			failed = append(failed, sum)
		default:
			refused++ // nothing was accepted, nothing is owed
		}
		// What the server's disk holds right after close returned.
		onDisk, rerr := os.ReadFile(filepath.Join(e.root, name))
		want, had := committed[name]
		switch {
		case !had && rerr == nil:
			t.Fatalf("commit %d of %s failed (%v) and left %d bytes under its name", i, name, err, len(onDisk))
		case had && rerr != nil:
			var lines []string
			for _, l := range strings.Split(e.logBuf.String(), "\n") {
				if strings.Contains(l, name) {
					lines = append(lines, l)
				}
			}
			var cmds []string
			for _, l := range strings.Split(cmdLog.String(), "\n") {
				if strings.Contains(l, name) {
					cmds = append(cmds, l)
				}
			}
			t.Fatalf("commit %d of %s (%d bytes, fault %s): the server lost the file: %v (close: %v)\n%s\n%s\nhistory:\n%s", i, name, size, kind, rerr, err, strings.Join(lines[max(0, len(lines)-12):], "\n"), strings.Join(cmds[max(0, len(cmds)-16):], "\n"), strings.Join(history[name], "\n"))
		case had && sha256.Sum256(onDisk) != want:
			t.Fatalf("commit %d of %s (close: %v): the server holds %d bytes of neither version", i, name, err, len(onDisk))
		}
	}
	// Every failed commit's bytes are in a staged copy.
	staged := map[[32]byte]bool{}
	files, _ := filepath.Glob(filepath.Join(cache, "staging", "*"))
	for _, f := range files {
		if strings.HasSuffix(f, ".json") {
			continue
		}
		b, err := os.ReadFile(f)
		if err == nil {
			staged[sha256.Sum256(b)] = true
		}
	}
	for _, sum := range failed {
		if !staged[sum] {
			t.Fatalf("a failed commit's bytes (sha256 %x) are in no staged copy", sum[:8])
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(e.root, tmpPrefix+"*"))
	t.Logf("%d commits: %d returned 0, %d failed at close, %d at open or write; %d faults injected; %d staged copies; %d temporary names left; time by fault %v", commits, ok, len(failed), refused, faults, len(files)/2, len(leftovers), spent)
	if ok < commits/2 || len(failed) < faults/4 {
		t.Fatalf("implausible mix: %d ok, %d failed of %d faults", ok, len(failed), faults)
	}

	// The next mount with the same cache directory reports them.
	_, _, logs := mountAt(t, e.srv.Addr().String(), testUser, testPass, func(o *Options) { o.CacheDir = cache })
	if n := strings.Count(logs.String(), "staged copy of a failed upload"); n < len(failed) {
		t.Fatalf("the next mount reported %d staged copies, %d uploads failed", n, len(failed))
	}
}

// writeAndClose writes data to a new or truncated file and returns the
// first error, with the step that failed: open, write or close.
func writeAndClose(p string, data []byte) (string, error) {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return "open", err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return "write", err
	}
	return "close", f.Close()
}
