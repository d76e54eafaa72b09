package main

// The workloads of the link rows (issue 12, point 4), each with lftp's
// equivalent, its floor and its target.

import (
	"bytes"
	"fmt"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"ftpfs/internal/link"
)

// workload is one job, run by the mount and by lftp. Most give one row;
// rsync gives two (first run, run again).
type workload struct {
	id       string
	rows     []rowSpec
	rate     int64  // per-connection cap of the link, bytes/s (0: none)
	lftpWhat string // lftp's equivalent, or "-"
	// prepare, when set, readies the server's disk before the mount.
	prepare func(c *wctx) error
	// mount runs one round on a fresh mount, lftp the same job (nil when
	// lftp has none); both return a sample per row.
	mount func(c *wctx, mnt string) ([]sample, error)
	lftp  func(c *wctx) ([]sample, error)
}

// one is the samples of a job that gives one row.
func one(s sample, err error) ([]sample, error) { return []sample{s}, err }

type rowSpec struct {
	name string
	per  int // the row reports time per operation of this many
	// target is the at 20 ms (0: none).
	target func(s *server) time.Duration
	floor  func(s *server, m model) floor
	why    string // how floor reckons
}

// model is the link a floor is reckoned for.
type model struct {
	rtt  time.Duration
	rate int64
}

// floor is rt round trips plus data, the time bytes need beyond them.
type floor struct {
	rt   float64
	data time.Duration
}

func (f floor) seconds(rtt time.Duration) time.Duration {
	return time.Duration(f.rt*float64(rtt)) + f.data
}

// spread is the round trips of n independent exchanges of k round trips
// each over the mount's connections.
func spread(n, k int) float64 { return float64((n + conns - 1) / conns * k) }

// smallFiles is the round trips of n small downloads over the mount's
// connections, each connection's data connection opened ahead for its
// first: that one costs its RETR, each next one the connect to a port
// that came with the previous transfer's final reply, and its RETR. A
// control connection has one passive port at a time, so two data
// connections cannot be opened ahead on it.
func smallFiles(n int) float64 { return 1 + (spread(n, 1)-1)*2 }

func fixed(d time.Duration) func(*server) time.Duration {
	return func(*server) time.Duration { return d }
}

func rts(n float64) func(*server, model) floor {
	return func(*server, model) floor { return floor{rt: n} }
}

// allWorkloads lists the workloads in table order (after flag parsing:
// names show flag values).
func allWorkloads() []workload {
	return []workload{
		{
			id: "lsR", lftpWhat: "find -l /tree (names, sizes and LIST's times: no MDTM on LIST-only servers)",
			rows: []rowSpec{{
				name: "cold ls -lR, 2,000 files in 51 dirs",
				target: func(s *server) time.Duration {
					if s.listOnly {
						return 1500 * time.Millisecond
					}
					return 600 * time.Millisecond
				},
				floor: func(s *server, _ model) floor {
					if s.listOnly {
						return floor{rt: 2 + spread(dirs, 2)}
					}
					return floor{rt: 2 + spread(dirs, 1)}
				},
				why: "the root's listing (lookup of tree) and tree's, 1 each, one after the other; then the 50 " +
					"directories over 4 connections (13 each): MLSD with a pre-opened data connection, 1; " +
					"LIST-only: STAT (1) then the directory's 40 MDTMs pipelined (1), 2. MLSD 15, LIST-only 28.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				var out []byte
				s, err := c.measure(func() (err error) {
					out, err = exec.Command("ls", "-lR", "--time-style=full-iso", filepath.Join(mnt, "tree")).Output()
					return err
				})
				if err == nil {
					err = countFiles(out, "-", dirs*perD)
				}
				return []sample{s}, err
			},
			lftp: func(c *wctx) ([]sample, error) {
				return one(c.lftpJob("find -l /tree"))
			},
		},
		{
			id: "cp40", lftpWhat: fmt.Sprintf("mirror --parallel=%d /tree/dir00 to tmpfs", *lftpParallel),
			rows: []rowSpec{{
				name: "cold cp -r of one 40-file dir", target: fixed(600 * time.Millisecond),
				floor: rts(3 + smallFiles(perD)),
				why: "the listings of the root, tree and dir00 (lookups, one after the other), 1 each; then the " +
					"40 files over 4 connections, 10 each: the first a RETR on a pre-opened data connection, 1; " +
					"each other one a connect to the port the previous transfer's connection got (EPSV went with " +
					"it, a server answers after the transfer), 1, and its RETR, 1 (every file fits the window): " +
					"3 + 1 + 9 x 2 = 22.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				return one(c.copyDirs(mnt, 0, 1))
			},
			lftp: func(c *wctx) ([]sample, error) {
				return one(c.lftpMirror(0, 1))
			},
		},
		{
			id: "cp400", lftpWhat: fmt.Sprintf("10 mirror --parallel=%d /tree/dirNN in one session, one after the other", *lftpParallel),
			rows: []rowSpec{{
				name: "cold cp -r of 10 dirs, 400 files", target: fixed(4 * time.Second),
				floor: rts(2 + 10*(1+smallFiles(perD))),
				why: "the listings of the root and tree, 1 each; then per cp, one after the other, its " +
					"directory's listing (1, while the connections connect their next data connections) and its " +
					"40 files over 4 connections (1 + 9 x 2, as above): 2 + 10 x 20 = 202.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				return one(c.copyDirs(mnt, 10, 10))
			},
			lftp: func(c *wctx) ([]sample, error) {
				return one(c.lftpMirror(10, 10))
			},
		},
		{
			id: "rand", lftpWhat: "- (no ranged read)",
			rows: []rowSpec{{
				name: "50 random 4 KiB reads, per read", per: 50, target: fixed(50 * 30 * time.Millisecond),
				floor: rts(50),
				why: "each read waits for the previous one (pread): REST+RETR pipelined on a pre-opened data " +
					"connection, the block within the window, 1 each; the file was opened (looked up) before.",
			}},
			mount: randomReads,
		},
		{
			id: "cat", rate: catRate, lftpWhat: "cat /big.bin >/dev/null (one stream)",
			rows: []rowSpec{{
				name:   fmt.Sprintf("cat of %d MiB, 20 MB/s per connection", *catMiB),
				target: func(*server) time.Duration { return time.Duration(4.5 * float64(*catMiB) / 256 * float64(time.Second)) },
				floor: func(_ *server, m model) floor {
					// A stream moves at most its rate, and a window per RTT.
					per := float64(m.rate)
					if m.rtt > 0 {
						per = min(per, window/m.rtt.Seconds())
					}
					bytes := float64(*catMiB) * (1 << 20)
					return floor{rt: 2, data: time.Duration(bytes / (conns * per) * float64(time.Second))}
				},
				why: "the root's listing (lookup), 1; then the file in ranged segments (REST+RETR) over 4 " +
					"connections, 1 + size / (4 x min(rate, window/RTT)): 2 + 3.36 s for 256 MiB at 20 MB/s.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				s, err := c.measure(func() error { return sh(`cat "$1" >/dev/null`, filepath.Join(mnt, "big.bin")) })
				return []sample{s}, err
			},
			lftp: func(c *wctx) ([]sample, error) {
				return one(c.lftpJob("cat /big.bin"))
			},
		},
		{
			id: "up40", lftpWhat: fmt.Sprintf("mirror -R --parallel=%d of dir00 (lftp writes under the final names, no temporary)", *lftpParallel),
			rows: []rowSpec{{
				name: "cp -r of 40 files up", target: fixed(2500 * time.Millisecond),
				floor: rts(3 + perD*2),
				why: "the listings of the root and up (lookups), 1 each; MKD, 1; then per file, one after the " +
					"other (close returns once the file is on the server under its name): STOR to a temporary " +
					"name on a pre-opened data connection, with the contract's SIZE check pipelined behind it, until " +
					"its 226 and 213, 1, and RNFR+RNTO pipelined, 1: 3 + 80 = 83. The uploads below count alike.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				dst := c.upload("")
				s, err := c.measure(func() error { return sh(`cp -r "$1" "$2"`, c.src(), filepath.Join(mnt, "up", dst)) })
				if err == nil {
					err = c.sameAsSource(dst)
				}
				return []sample{s}, err
			},
			lftp: func(c *wctx) ([]sample, error) {
				dst := c.upload("lftp")
				s, err := c.lftpJob(fmt.Sprintf("mirror -R --parallel=%d %s /up/%s", *lftpParallel, c.src(), dst))
				if err == nil {
					err = c.sameAsSource(dst)
				}
				return []sample{s}, err
			},
		},
		{
			id: "rsync", lftpWhat: fmt.Sprintf("mirror -R --parallel=%d of dir00, twice (a process each)", *lftpParallel),
			rows: []rowSpec{{
				name: "rsync -a of 40 files up", target: fixed(4 * time.Second),
				floor: rts(3 + perD*3 + 1),
				why: "the listings of the root and up, 1 each; MKD, 1; per file, one after the other: STOR to a " +
					"temporary name, 1, its commit under rsync's temporary name, 1, and rsync's rename with the " +
					"times (and mode) travelling with it, 1; the directory's time at the end, 1: 3 + 120 + 1 = 124.",
			}, {
				name: "rsync -a of 40 files up, again", target: fixed(150 * time.Millisecond),
				floor: rts(1),
				why:   "one listing of the directory (0 while the directory cache still trusts the last): 1.",
			}},
			mount: func(c *wctx, mnt string) ([]sample, error) {
				dst := c.upload("")
				var out []sample
				for i := range 2 {
					var stats []byte
					s, err := c.measure(func() (err error) {
						stats, err = exec.Command("rsync", "-a", "--stats", c.src()+"/", filepath.Join(mnt, "up", dst)+"/").CombinedOutput()
						if err != nil {
							err = fmt.Errorf("rsync: %v\n%s", err, stats)
						}
						return err
					})
					if err == nil && i == 1 && !bytes.Contains(stats, []byte("Number of regular files transferred: 0")) {
						err = fmt.Errorf("the second rsync -a sent files again:\n%s", stats)
					}
					if err != nil {
						return nil, err
					}
					out = append(out, s)
				}
				return out, c.sameAsSource(dst)
			},
			lftp: func(c *wctx) ([]sample, error) {
				dst := c.upload("lftp")
				var out []sample
				for range 2 {
					s, err := c.lftpJob(fmt.Sprintf("mirror -R --parallel=%d %s /up/%s", *lftpParallel, c.src(), dst))
					if err != nil {
						return nil, err
					}
					out = append(out, s)
				}
				return out, c.sameAsSource(dst)
			},
		},
		{
			id: "saves", lftpWhat: "- (no editor)",
			rows: []rowSpec{{
				name: "10 editor saves of 64 KiB", target: fixed(800 * time.Millisecond),
				floor: rts(3 + 5*3 + 5*2),
				why: "the listings of the root, up and the document's directory (lookups), 1 each; 5 saves " +
					"through a temporary file: fsync uploads it (STOR 1, commit RNFR+RNTO 1), then the rename " +
					"over the document, 1; 5 O_TRUNC rewrites, uploaded at close: STOR 1, commit 1: 3 + 15 + 10 = 28.",
			}},
			prepare: func(c *wctx) error {
				// The document, in a directory every server's sessions may
				// write, as up/ (see makeRoot).
				disk := filepath.Join(c.lb.root, "up", c.upload(""))
				if err := os.Mkdir(disk, 0o777); err != nil {
					return err
				}
				if err := os.WriteFile(filepath.Join(disk, "doc.txt"), make([]byte, 64<<10), 0o644); err != nil {
					return err
				}
				return os.Chmod(disk, 0o777)
			},
			mount: editorSaves,
		},
	}
}

func workloadIDs() []string {
	var ids []string
	for _, w := range allWorkloads() {
		ids = append(ids, w.id)
	}
	return ids
}

func findWorkload(id string) (workload, bool) {
	for _, w := range allWorkloads() {
		if strings.EqualFold(w.id, id) {
			return w, true
		}
	}
	return workload{}, false
}

// wctx is one round of one workload against one server at one RTT.
type wctx struct {
	lb    *linkBench
	s     *server
	l     *link.Link
	rtt   time.Duration
	name  string   // unique per round: names of uploads and copies
	trash []string // removed after the round
}

// mount mounts the server through the link, cold: a new process with a
// cache dir of its own, at the mount's defaults.
func (c *wctx) mount() (string, func(), error) {
	cache, err := os.MkdirTemp(c.lb.work, "cache-")
	if err != nil {
		return "", nil, err
	}
	c.trash = append(c.trash, cache)
	flags := append(append([]string{"--cache-dir", cache}, c.s.mountFlags...), strings.Fields(*mountFlags)...)
	return mountURL(c.lb.work, "ftp://"+c.s.user+"@"+c.l.Addr()+"/", c.s.pass, flags...)
}

// mountRound runs the mount's side of a round of w on a fresh mount.
func (c *wctx) mountRound(w workload) ([]sample, error) {
	if w.prepare != nil {
		if err := w.prepare(c); err != nil {
			return nil, err
		}
	}
	mnt, unmount, err := c.mount()
	if err != nil {
		return nil, err
	}
	defer unmount()
	return w.mount(c, mnt)
}

// measure times f with the link's counters started afresh.
func (c *wctx) measure(f func() error) (sample, error) {
	if c.lb.log != nil {
		c.lb.log.Debug("bench measures", "round", c.name)
	}
	c.l.Reset()
	t0 := time.Now()
	err := f()
	return sample{d: time.Since(t0), st: c.l.Stats()}, err
}

// lftpJob runs lftp over the link with cmds after the login, its output
// discarded.
func (c *wctx) lftpJob(cmds ...string) (sample, error) {
	script := filepath.Join(c.lb.work, c.name+".lftp")
	c.trash = append(c.trash, script)
	text := "set cmd:fail-exit yes\nset ftp:ssl-allow no\nset ftp:passive-mode yes\nset net:max-retries 1\n" +
		fmt.Sprintf("open -u %s,%s ftp://%s\n", c.s.user, c.s.pass, c.l.Addr()) + strings.Join(cmds, "\n") + "\n"
	if err := os.WriteFile(script, []byte(text), 0o600); err != nil {
		return sample{}, err
	}
	return c.measure(func() error { return sh(`lftp -f "$1" >/dev/null`, script) })
}

// src is the local directory the upload rows send: the server's dir00.
func (c *wctx) src() string { return filepath.Join(c.lb.root, "tree", "dir00") }

// upload names a new directory under up/ for this round, removed after
// it.
func (c *wctx) upload(suffix string) string {
	name := c.name + suffix
	c.trash = append(c.trash, filepath.Join(c.lb.root, "up", name))
	return name
}

// sameAsSource checks the server's disk against the source, right after
// the job returned.
func (c *wctx) sameAsSource(dst string) error {
	if err := sh(`diff -r "$1" "$2"`, c.src(), filepath.Join(c.lb.root, "up", dst)); err != nil {
		return fmt.Errorf("the server's disk differs from the source when the job returned: %w", err)
	}
	return nil
}

func (c *wctx) cleanup() {
	for _, p := range c.trash {
		os.RemoveAll(p)
	}
}

// copyDirs copies tree/dirFIRST.. (n of them) from a fresh mount, one
// cp -r each, and checks the copies.
func (c *wctx) copyDirs(mnt string, first, n int) (sample, error) {
	dst := filepath.Join(c.lb.copy, c.name)
	c.trash = append(c.trash, dst)
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return sample{}, err
	}
	s, err := c.measure(func() error {
		for d := first; d < first+n; d++ {
			dir := fmt.Sprintf("dir%02d", d)
			if err := sh(`cp -r "$1" "$2"`, filepath.Join(mnt, "tree", dir), filepath.Join(dst, dir)); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		err = c.sameAsTree(dst, first, n)
	}
	return s, err
}

// lftpMirror mirrors the same directories in one lftp session.
func (c *wctx) lftpMirror(first, n int) (sample, error) {
	dst := filepath.Join(c.lb.copy, c.name+"-lftp")
	c.trash = append(c.trash, dst)
	var cmds []string
	for d := first; d < first+n; d++ {
		dir := fmt.Sprintf("dir%02d", d)
		cmds = append(cmds, fmt.Sprintf("mirror --parallel=%d /tree/%s %s", *lftpParallel, dir, filepath.Join(dst, dir)))
	}
	s, err := c.lftpJob(cmds...)
	if err == nil {
		err = c.sameAsTree(dst, first, n)
	}
	return s, err
}

func (c *wctx) sameAsTree(dst string, first, n int) error {
	for d := first; d < first+n; d++ {
		dir := fmt.Sprintf("dir%02d", d)
		if err := sh(`diff -r "$1" "$2"`, filepath.Join(c.lb.root, "tree", dir), filepath.Join(dst, dir)); err != nil {
			return fmt.Errorf("copied other bytes: %w", err)
		}
	}
	return nil
}

// countFiles checks that an ls -lR output shows want regular files.
func countFiles(out []byte, kind string, want int) error {
	n := 0
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, kind) {
			n++
		}
	}
	if n != want {
		return fmt.Errorf("ls -lR showed %d files, want %d", n, want)
	}
	return nil
}

// randomReads preads 50 random 4 KiB blocks of a file the mount never
// read, one after the other, and checks them against the server's disk.
func randomReads(c *wctx, mnt string) ([]sample, error) {
	f, err := os.Open(filepath.Join(mnt, "rand.bin"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := mrand.New(mrand.NewPCG(9, uint64(len(c.name))))
	const n, block = 50, 4096
	offs := make([]int64, n)
	for i := range offs {
		offs[i] = r.Int64N(randMiB<<20/block) * block
	}
	got := make([]byte, n*block)
	s, err := c.measure(func() error {
		for i, off := range offs {
			if _, err := f.ReadAt(got[i*block:(i+1)*block], off); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	want, err := os.Open(filepath.Join(c.lb.root, "rand.bin"))
	if err != nil {
		return nil, err
	}
	defer want.Close()
	exp := make([]byte, block)
	for i, off := range offs {
		want.ReadAt(exp, off)
		if !bytes.Equal(got[i*block:(i+1)*block], exp) {
			return nil, fmt.Errorf("random read at %d: other bytes than the server's", off)
		}
	}
	return []sample{s}, nil
}

// editorSaves saves a 64 KiB document 10 times: 5 times as editors that
// write a temporary file, fsync it and rename it over the document, 5
// times rewriting it in place (O_TRUNC).
func editorSaves(c *wctx, mnt string) ([]sample, error) {
	dir := c.upload("")
	disk := filepath.Join(c.lb.root, "up", dir)
	content := make([]byte, 64<<10)
	doc := filepath.Join(mnt, "up", dir, "doc.txt")
	s, err := c.measure(func() error {
		for i := range 10 {
			content[0] = byte(i + 1)
			if i >= 5 {
				if err := os.WriteFile(doc, content, 0o644); err != nil {
					return err
				}
				continue
			}
			tmp := filepath.Join(filepath.Dir(doc), ".doc.txt.swp")
			f, err := os.OpenFile(tmp, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			_, err = f.Write(content)
			if err == nil {
				err = f.Sync()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err == nil {
				err = os.Rename(tmp, doc)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if got, _ := os.ReadFile(filepath.Join(disk, "doc.txt")); !bytes.Equal(got, content) {
		return nil, fmt.Errorf("the last save is not on the server's disk")
	}
	return []sample{s}, nil
}
