// Command mount benchmarks the ftpfs mount: against ftpd on loopback, FTP
// commands counted exactly by the server, times reported next to curl and
// lftp on the same server in the same run; and through the link emulator
// in front of ftpd and real servers (link.go: seconds, commands and round
// trips per operation beside lftp and the floor). make bench runs it after
// building bin/ftpfs; the mount is that binary, in a process of its own.
package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"ftpfs/ftpd"
)

const (
	user = "bench"
	dirs = 50
	perD = 40 // 2,000 files
)

var (
	bin    = flag.String("ftpfs", "bin/ftpfs", "the ftpfs binary")
	bigMiB = flag.Int("big", 256, "size of the large files, MiB")
	copyTo = flag.String("copy-to", "/dev/shm", "where cp -r and lftp mirror write (memory, so that the disk's writeback does not decide the race); falls back to the temp dir")
	only   = flag.String("only", "metadata,reads,copies,writes,link", "the parts to run, comma-separated (link: the rows over the link emulator, see -rtt, -servers, -rows)")
)

type bench struct {
	srv    *ftpd.Server
	addr   string
	root   string
	work   string
	pass   string
	netrc  string
	rows   [][3]string
	failed bool
}

func main() {
	flag.Parse()
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run() error {
	loopback := false
	for _, p := range []string{"metadata", "reads", "copies", "writes"} {
		loopback = loopback || selected(p)
	}
	var failed error
	if loopback {
		failed = runLoopback()
	}
	if selected("link") {
		if err := runLink(); err != nil {
			return err
		}
	}
	return failed
}

// selected reports whether -only names part.
func selected(part string) bool { return strings.Contains(","+*only+",", ","+part+",") }

// runLoopback runs the parts against ftpd on loopback, without a link.
func runLoopback() error {
	work, err := os.MkdirTemp("", "ftpfs-mountbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	b := &bench{work: work, root: filepath.Join(work, "root"), pass: randomHex()}
	progress("building the tree (2,000 files in 50 directories, 3 x %d MiB)", *bigMiB)
	if err := b.makeTree(); err != nil {
		return err
	}
	b.srv, err = ftpd.New(ftpd.Config{Root: b.root, Listen: "127.0.0.1:0", Users: map[string]string{user: b.pass}, MaxPerIP: -1, MaxSessions: -1})
	if err != nil {
		return err
	}
	if err := b.srv.Start(); err != nil {
		return err
	}
	defer b.srv.Close()
	b.addr = b.srv.Addr().String()
	b.netrc = filepath.Join(work, "netrc")
	if err := os.WriteFile(b.netrc, []byte(fmt.Sprintf("machine 127.0.0.1 login %s password %s\n", user, b.pass)), 0o600); err != nil {
		return err
	}

	for _, part := range []struct {
		name string
		run  func() error
	}{{"metadata", b.metadata}, {"reads", b.reads}, {"copies", b.copies}, {"writes", b.writes}} {
		if !selected(part.name) {
			continue
		}
		if err := part.run(); err != nil {
			return err
		}
	}
	b.rows = append(b.rows, [3]string{"peak RSS of the mounts (default cache sizes)", fmt.Sprintf("%d MiB", peakRSS>>10), "report"})
	fmt.Printf("\nftpfs mount against ftpd on loopback (%d CPUs); FTP commands counted by the server\n", numCPU())
	fmt.Printf("%-52s %-22s %s\n", "measure", "result", "goal")
	for _, r := range b.rows {
		fmt.Printf("%-52s %-22s %s\n", r[0], r[1], r[2])
	}
	if b.failed {
		return errors.New("a goal was missed (marked !)")
	}
	return nil
}

func progress(f string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+f+"\n", a...) }

func (b *bench) row(name, result, goal string, ok bool) {
	if !ok {
		result += " !"
		b.failed = true
	}
	b.rows = append(b.rows, [3]string{name, result, goal})
	progress("  %s: %s", name, result)
}

func randomHex() string {
	var p [12]byte
	rand.Read(p[:])
	return fmt.Sprintf("%x", p)
}

func numCPU() int {
	out, _ := exec.Command("nproc").Output()
	var n int
	fmt.Sscan(string(out), &n)
	return n
}

// makeTree writes 2,000 files of 200 B to 33 KiB in 50 directories and
// three large files: one for cat, one for curl, one for random reads.
func (b *bench) makeTree() error {
	if err := writeTree(filepath.Join(b.root, "tree")); err != nil {
		return err
	}
	for _, name := range []string{"big-cat", "big-curl", "big-random"} {
		if err := writeRandom(filepath.Join(b.root, name), *bigMiB); err != nil {
			return err
		}
	}
	return nil
}

// writeTree writes the 2,000 small files, dir00/file000.dat to
// dir49/file039.dat, the same sizes on every run.
func writeTree(top string) error {
	r := mrand.New(mrand.NewPCG(1, 1))
	buf := make([]byte, 33<<10)
	rand.Read(buf)
	for d := range dirs {
		dir := filepath.Join(top, fmt.Sprintf("dir%02d", d))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for f := range perD {
			n := 200 + r.IntN(33<<10-200)
			if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%03d.dat", f)), buf[:n], 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// writeRandom writes mib MiB of random bytes to name.
func writeRandom(name string, mib int) error {
	big := make([]byte, 1<<20)
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	for range mib {
		rand.Read(big)
		if _, err := f.Write(big); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// mount runs bin/ftpfs mount in the foreground, in a process of its own,
// and returns once the mount answers.
func (b *bench) mount(extra ...string) (mnt string, unmount func(), err error) {
	args := append([]string{"--dir-cache-ttl", "60s"}, extra...)
	return mountURL(b.work, "ftp://"+user+"@"+b.addr+"/", b.pass, args...)
}

// mountURL mounts url on a new directory under work with the given flags
// and password, and returns once the mount answers.
func mountURL(work, url, pass string, flags ...string) (mnt string, unmount func(), err error) {
	mnt, err = os.MkdirTemp(work, "mnt-")
	if err != nil {
		return "", nil, err
	}
	args := append(append([]string{"mount", "-f"}, flags...), url, mnt)
	cmd := exec.Command(*bin, args...)
	cmd.Env = append(os.Environ(), "FTPFS_PASSWORD="+pass)
	var logs bytes.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for !mounted(mnt) {
		select {
		case err := <-done:
			return "", nil, fmt.Errorf("ftpfs mount exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			return "", nil, fmt.Errorf("mount not ready after 20s\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	var once sync.Once
	return mnt, func() { once.Do(func() { stop(cmd, mnt, done) }) }, nil
}

// stop ends a mount as SIGTERM does for a user, lazily if it hangs.
func stop(cmd *exec.Cmd, mnt string, done chan error) {
	notePeakRSS(cmd.Process.Pid)
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(15 * time.Second):
		syscall.Unmount(mnt, syscall.MNT_DETACH)
		cmd.Process.Kill()
		<-done
	}
}

// peakRSS is the largest VmHWM of the mount processes so far, in KiB.
var peakRSS int64

func notePeakRSS(pid int) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), &kb)
			peakRSS = max(peakRSS, kb)
		}
	}
}

// mounted compares the device of mnt with its parent's.
func mounted(mnt string) bool {
	var a, p syscall.Stat_t
	if syscall.Stat(mnt, &a) != nil || syscall.Stat(filepath.Dir(mnt), &p) != nil {
		return false
	}
	return a.Dev != p.Dev
}

// counted runs f and returns the FTP commands the server received
// meanwhile, by verb.
func (b *bench) counted(f func() error) (map[string]int64, time.Duration, error) {
	b.srv.ResetCounts()
	t0 := time.Now()
	err := f()
	d := time.Since(t0)
	return b.srv.Counts(), d, err
}

func total(c map[string]int64) int64 {
	var n int64
	for _, v := range c {
		n += v
	}
	return n
}

func show(c map[string]int64) string {
	var parts []string
	for k, v := range c {
		parts = append(parts, fmt.Sprintf("%s:%d", k, v))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

func sh(script string, args ...string) error {
	cmd := exec.Command("sh", append([]string{"-c", script, "sh"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v\n%s", script, err, out)
	}
	return nil
}

func (b *bench) metadata() error {
	progress("metadata: ls -lR, find, stats of a missing name")
	mnt, unmount, err := b.mount()
	if err != nil {
		return err
	}
	defer unmount()
	tree := filepath.Join(mnt, "tree")
	c, d, err := b.counted(func() error { return sh(`ls -lR "$1" >/dev/null`, tree) })
	if err != nil {
		return err
	}
	lists := c["MLSD"] + c["LIST"]
	b.row("cold ls -lR (2,000 files, 51 dirs): listings", fmt.Sprintf("%d (%d cmds, %v)", lists, total(c), d.Round(time.Millisecond)), "<= 51 + 10", lists <= 61 && total(c)-lists <= 10+3*lists)
	c, _, err = b.counted(func() error { return sh(`ls -lR "$1" >/dev/null`, tree) })
	if err != nil {
		return err
	}
	b.row("warm ls -lR: FTP commands", fmt.Sprint(total(c)), "0", total(c) == 0)
	c, _, err = b.counted(func() error { return sh(`find "$1" >/dev/null`, tree) })
	if err != nil {
		return err
	}
	b.row("warm find: FTP commands", fmt.Sprint(total(c)), "0", total(c) == 0)
	c, _, err = b.counted(func() error {
		for range 1000 {
			if _, err := os.Stat(filepath.Join(tree, "dir07", "missing")); !errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("stat of a missing name: %v", err)
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.row("1,000 stats of a missing file: FTP commands", fmt.Sprint(total(c)), "0", total(c) == 0)
	return nil
}

func (b *bench) curl(name string) (time.Duration, error) {
	t0 := time.Now()
	err := sh(`curl -sS --netrc-file "$1" -o /dev/null "$2"`, b.netrc, "ftp://"+b.addr+"/"+name)
	return time.Since(t0), err
}

// catRounds is how many times cat and curl are timed against each other;
// the median ratio is reported, since one run on a noisy machine says
// little.
const catRounds = 5

func (b *bench) reads() error {
	progress("reads: cat of a %d MiB file against curl (median of %d), random 4 KiB preads", *bigMiB, catRounds)
	if _, err := b.curl("big-curl"); err != nil { // warm the server's page cache alike
		return err
	}
	if err := sh(`cat "$1" >/dev/null`, filepath.Join(b.root, "big-cat")); err != nil {
		return err
	}
	var ratios, mounts, curls []float64
	var cmds map[string]int64
	mib := float64(*bigMiB)
	for i := range catRounds {
		// A new mount each round: its page cache and block cache start
		// empty, so the file is never read before by this mount.
		mnt, unmount, err := b.mount()
		if err != nil {
			return err
		}
		dc, err := b.curl("big-curl")
		if err != nil {
			unmount()
			return err
		}
		c, dm, err := b.counted(func() error { return sh(`cat "$1" >/dev/null`, filepath.Join(mnt, "big-cat")) })
		unmount()
		if err != nil {
			return err
		}
		if i == 0 {
			cmds = c
		}
		ratios = append(ratios, dc.Seconds()/dm.Seconds())
		mounts = append(mounts, mib/dm.Seconds())
		curls = append(curls, mib/dc.Seconds())
	}
	ratio := median(ratios)
	b.row(fmt.Sprintf("cat %d MiB, never read: MiB/s (curl), median", *bigMiB),
		fmt.Sprintf("%.0f (%.0f) = %.2fx", median(mounts), median(curls), ratio), ">= 0.4x curl", ratio >= 0.4)
	b.row(fmt.Sprintf("  ratios of the %d rounds", catRounds), fmt.Sprintf("%.2f", ratios), "", true)
	b.row("  its FTP commands (one round)", show(cmds), "", true)

	mnt, unmount, err := b.mount()
	if err != nil {
		return err
	}
	defer unmount()
	f, err := os.Open(filepath.Join(mnt, "big-random"))
	if err != nil {
		return err
	}
	defer f.Close()
	want, err := os.Open(filepath.Join(b.root, "big-random"))
	if err != nil {
		return err
	}
	defer want.Close()
	r := mrand.New(mrand.NewPCG(9, 9))
	got, exp := make([]byte, 4096), make([]byte, 4096)
	size := int64(*bigMiB) << 20
	var errs int
	var sum time.Duration
	c, _, _ := b.counted(func() error {
		for range 200 {
			off := r.Int64N(size - 4096)
			t0 := time.Now()
			_, err := f.ReadAt(got, off)
			sum += time.Since(t0)
			want.ReadAt(exp, off)
			if err != nil || !bytes.Equal(got, exp) {
				errs++
			}
		}
		return nil
	})
	mean := sum / 200
	b.row("200 random 4 KiB preads: errors, mean", fmt.Sprintf("%d, %v", errs, mean.Round(10*time.Microsecond)), "0, <= 2ms", errs == 0 && mean <= 2*time.Millisecond)
	b.row("  new control connections (USER)", fmt.Sprint(c["USER"]), "<= 1 (not one per read)", c["USER"] <= 1)
	return nil
}

// median is the middle value of v (the mean of the two middle ones for an
// even count).
func median(v []float64) float64 {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func (b *bench) copies() error {
	progress("cp -r of the tree against lftp mirror (median of %d)", catRounds)
	out, err := os.MkdirTemp(*copyTo, "ftpfs-bench-")
	if err != nil {
		out, err = os.MkdirTemp(b.work, "copies-")
		if err != nil {
			return err
		}
	}
	defer os.RemoveAll(out)
	script := filepath.Join(b.work, "lftp.script")
	defer os.Remove(script)
	var mounts, lftps []float64
	var perFile float64
	for i := range catRounds {
		// A new mount each round, so that every cp is cold.
		mnt, unmount, err := b.mount()
		if err != nil {
			return err
		}
		dst := filepath.Join(out, fmt.Sprintf("cp%d", i))
		c, dm, err := b.counted(func() error { return sh(`cp -r "$1" "$2"`, filepath.Join(mnt, "tree"), dst) })
		unmount()
		if err != nil {
			return err
		}
		if err := sh(`diff -r "$1" "$2"`, filepath.Join(b.root, "tree"), dst); err != nil {
			return fmt.Errorf("cp -r copied other bytes: %w", err)
		}
		if i == 0 {
			perFile = float64(total(c)) / float64(dirs*perD)
		}
		lf := filepath.Join(out, fmt.Sprintf("lftp%d", i))
		os.WriteFile(script, []byte(fmt.Sprintf("set cmd:fail-exit yes\nopen -u %s,%s ftp://%s\nmirror /tree %s\n", user, b.pass, b.addr, lf)), 0o600)
		_, dl, err := b.counted(func() error { return sh(`lftp -f "$1" >/dev/null`, script) })
		if err != nil {
			return err
		}
		mounts = append(mounts, dm.Seconds())
		lftps = append(lftps, dl.Seconds())
	}
	dm, dl := median(mounts), median(lftps)
	b.row("cp -r tree to local tmpfs: cmds/file, time (lftp), median", fmt.Sprintf("%.2f, %.0fms (%.0fms)", perFile, dm*1000, dl*1000), "<= 3, <= lftp", perFile <= 3 && dm <= dl)
	return nil
}

// writes measures uploads through the mount: cp -r of the tree up, dd of
// 100 MiB against curl's STOR, rsync -a twice, and editor saves.
func (b *bench) writes() error {
	progress("writes: cp -r up, dd against curl, rsync -a twice, editor saves")
	mnt, unmount, err := b.mount()
	if err != nil {
		return err
	}
	defer unmount()
	src := filepath.Join(b.root, "tree")
	files := float64(dirs * perD)
	c, d, err := b.counted(func() error { return sh(`cp -r "$1" "$2"`, src, filepath.Join(mnt, "up-cp")) })
	if err != nil {
		return err
	}
	// Right after cp returns, the server's disk must hold it all.
	if err := sh(`diff -r "$1" "$2"`, src, filepath.Join(b.root, "up-cp")); err != nil {
		return fmt.Errorf("cp -r up: the server's disk differs right after cp returned: %w", err)
	}
	// A directory costs its MKD; a file, what the upload of its bytes
	// costs.
	perFile := float64(total(c)-c["MKD"]) / files
	b.row("cp -r tree up: cmds/file (+1 MKD/dir), time", fmt.Sprintf("%.2f, %v", perFile, d.Round(time.Millisecond)), "<= 5, data on the server at return", perFile <= 5)
	b.row("  its FTP commands", show(c), "", true)

	big := filepath.Join(b.work, "dd-src")
	if err := sh(`head -c 104857600 /dev/urandom > "$1"`, big); err != nil {
		return err
	}
	// Rounds as for cat: each to new names, removed after the round.
	var ratios, mounts, curls []float64
	var ddCmds map[string]int64
	for i := range catRounds {
		t0 := time.Now()
		if err := sh(`curl -sS --netrc-file "$1" -T "$2" "$3"`, b.netrc, big, "ftp://"+b.addr+"/curl-up.bin"); err != nil {
			return err
		}
		dc := time.Since(t0)
		c, dm, err := b.counted(func() error {
			return sh(`dd if="$1" of="$2" bs=1M status=none`, big, filepath.Join(mnt, "dd-up.bin"))
		})
		if err != nil {
			return err
		}
		if err := sh(`cmp "$1" "$2"`, big, filepath.Join(b.root, "dd-up.bin")); err != nil {
			return fmt.Errorf("dd: the server's copy differs right after dd returned: %w", err)
		}
		if i == 0 {
			ddCmds = c
		}
		os.Remove(filepath.Join(mnt, "dd-up.bin"))
		os.Remove(filepath.Join(b.root, "curl-up.bin"))
		ratios = append(ratios, dc.Seconds()/dm.Seconds())
		mounts = append(mounts, 100/dm.Seconds())
		curls = append(curls, 100/dc.Seconds())
	}
	ratio := median(ratios)
	b.row("dd 100 MiB to a new file: MiB/s (curl STOR), median", fmt.Sprintf("%.0f (%.0f) = %.2fx", median(mounts), median(curls), ratio), ">= 0.5x curl", ratio >= 0.5)
	b.row(fmt.Sprintf("  ratios of the %d rounds", catRounds), fmt.Sprintf("%.2f", ratios), "", true)
	b.row("  its FTP commands (one round)", show(ddCmds), "", true)

	dst := filepath.Join(mnt, "up-rsync")
	if _, _, err := b.counted(func() error { return sh(`rsync -a "$1/" "$2/"`, src, dst) }); err != nil {
		return err
	}
	var out []byte
	c, d, err = b.counted(func() error {
		var err error
		out, err = exec.Command("rsync", "-a", "--stats", src+"/", dst+"/").CombinedOutput()
		return err
	})
	if err != nil {
		return fmt.Errorf("rsync: %v\n%s", err, out)
	}
	zero := strings.Contains(string(out), "Number of regular files transferred: 0")
	lists := c["MLSD"] + c["LIST"]
	b.row("second rsync -a: files sent, listings, cmds", fmt.Sprintf("0=%v, %d, %d (%v)", zero, lists, total(c), d.Round(time.Millisecond)), "0 files, <= 1 listing/dir", zero && lists <= dirs+1)

	doc := filepath.Join(mnt, "doc.txt")
	content := make([]byte, 64<<10)
	c, _, err = b.counted(func() error {
		for i := range 40 {
			content[0] = byte(i)
			if err := os.WriteFile(doc, content, 0o644); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	per := float64(total(c)) / 40
	b.row("40 saves of 64 KiB (O_TRUNC rewrite): cmds/save", fmt.Sprintf("%.2f", per), "<= 6", per <= 6)
	c, _, err = b.counted(func() error {
		for i := range 40 {
			tmp := filepath.Join(mnt, ".doc.txt.tmp")
			if err := os.WriteFile(tmp, content[:64<<10-i], 0o644); err != nil {
				return err
			}
			if err := os.Rename(tmp, doc); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	b.row("40 saves of 64 KiB (temp file + rename): cmds/save", fmt.Sprintf("%.2f", float64(total(c))/40), "report", true)
	return nil
}
