package main

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stallWatch records, after a delay, the kernel's view of the given
// processes and their children: what each thread waits on. It runs in a
// process of its own, so it still works when the test process is the one
// stuck. stop ends it and logs what it found, if it fired.
type stallWatch struct {
	cmd  *exec.Cmd
	out  string
	done chan struct{}
}

const stallScript = `
sleep "$1"; shift
dump() {
	local pid=$1
	echo "== pid $pid $(tr '\0' ' ' </proc/$pid/cmdline 2>/dev/null | cut -c1-120)"
	for t in /proc/$pid/task/*; do
		local st wchan
		st=$(awk '{print $3}' "$t/stat" 2>/dev/null)
		wchan=$(cat "$t/wchan" 2>/dev/null)
		# Threads parked in the Go scheduler tell nothing; anything else
		# (a FUSE wait, a disk wait) is shown with its kernel stack.
		if [ "$wchan" = futex_wait_queue ] || [ "$wchan" = futex_wait_queue_me ] || [ "$wchan" = do_epoll_wait ]; then
			echo "-- ${t##*/} $st $wchan"
		else
			echo "-- ${t##*/} $st $wchan:"; sed 's/^/     /' "$t/stack" 2>/dev/null | head -14
		fi
	done
	for c in $(cat /proc/$pid/task/*/children 2>/dev/null); do dump "$c"; done
}
for p in "$@"; do dump "$p"; done
# Then the mount's goroutines, into its log (GOTRACEBACK=all): it ends the
# mount, which has overstayed anyway.
sleep 15; kill -QUIT "$1"
`

// watchStall fires after d unless stopped first; pids[0] is the mount.
func watchStall(t *testing.T, d time.Duration, pids ...int) *stallWatch {
	w := &stallWatch{out: t.TempDir() + "/stall.txt", done: make(chan struct{})}
	args := []string{"-c", stallScript, "stall", strconv.Itoa(int(d.Seconds()))}
	for _, p := range pids {
		args = append(args, strconv.Itoa(p))
	}
	f, err := os.Create(w.out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w.cmd = exec.Command("bash", args...)
	w.cmd.Stdout, w.cmd.Stderr = f, f
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { w.cmd.Wait(); close(w.done) }()
	return w
}

// stop ends the watch and logs its record, if it fired.
func (w *stallWatch) stop(t *testing.T) {
	w.cmd.Process.Kill()
	<-w.done
	b, _ := os.ReadFile(w.out)
	if s := strings.TrimSpace(string(b)); s != "" {
		t.Logf("threads when the run overstayed its time:\n%s", s)
	}
}
