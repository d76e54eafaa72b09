package conn

// Round trips of an upload's commit, counted through the link emulator,
// and the commit against servers that answer commands during a transfer.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"ftpfs/ftpd"
	"ftpfs/internal/link"
	"ftpfs/internal/testutil"
)

// throughLink is a pool to s through a link of 20 ms. (At 0, a mere
// counting relay, replies come back before the client's next command
// where a real link has them on the way, and the rounds counted are not
// a real link's.)
func throughLink(t *testing.T, s *server, mods ...func(*Config)) (*Pool, *link.Link) {
	t.Helper()
	l, err := link.Start(s.Addr().String(), link.Options{RTT: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return newPool(t, s, append([]func(*Config){func(c *Config) { c.Addr = l.Addr() }}, mods...)...), l
}

// TestCommitRoundTrips pins whole uploads of a small file, on a
// connection that has proved EPSV. The first costs four round trips:
// EPSV+STOR; the data connection; its handshake's last leg with the
// bytes, the end of the data and SIZE, answered after the 226; SITE
// CHMOD, RNFR and RNTO together, with the next transfer's EPSV, whose
// data connection opens once Commit returned (its connect and handshake
// count one more round each, which nobody waits for). The server
// answered SIZE after the 226: from then on the next EPSV goes with
// SIZE, and its data connection opens while the rename travels. The
// next uploads, one after another, cost two each: STOR with its bytes
// on the data connection opened ahead, SIZE and EPSV behind; then the
// rename, while the next data connection opens. (Before: four each.)
// The file's time travels with the rename, at no round trip's cost: MLST
// where the listings are MLSD, else MDTM; the first commit asks MDTM too,
// for the server's zone (LearnZone).
func TestCommitRoundTrips(t *testing.T) {
	for _, tc := range []struct {
		profile ftpd.Profile
		ask     string        // the command that asks the time
		prec    time.Duration // of the time it gives
	}{{ftpd.ProfileFull, "MLST", time.Millisecond}, {ftpd.ProfileVsftpd, "MDTM", time.Second}} {
		profile := tc.profile
		t.Run(string(profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = profile })
			testutil.WriteFile(t, filepath.Join(s.Root, "target"), []byte("old"))
			p, l := throughLink(t, s)
			ctx := context.Background()
			data := testutil.RandBytes(8, 20<<10)
			if _, err := p.Store(ctx, "/warm", bytes.NewReader(data)); err != nil {
				t.Fatal(err) // logs in and proves EPSV
			}
			// Each window ends once the data connection opened ahead has
			// done its handshake, which counts in the link's rounds.
			settle := func() { waitIdle(t, p); time.Sleep(40 * time.Millisecond) }
			settle()
			type window struct {
				uploads, trips int
				cmds           map[string]int
			}
			windows := []window{
				{1, 6, map[string]int{"EPSV": 2, "STOR": 1, "SIZE": 1, "SITE": 1, "RNFR": 1, "RNTO": 1, "MDTM": 1, tc.ask: 1}},
				{3, 6, map[string]int{"EPSV": 3, "STOR": 3, "SIZE": 3, "SITE": 3, "RNFR": 3, "RNTO": 3, tc.ask: 3}},
			}
			if profile == ftpd.ProfileFull {
				// HASH: the first upload asks it after SIZE, one more
				// round trip (whether the server answers commands in
				// order is not known yet); the next ones send it with
				// SIZE, and cost nothing more (the server's hashing
				// does, on a big file).
				windows = []window{
					{1, 7, map[string]int{"EPSV": 2, "STOR": 1, "SIZE": 1, "HASH": 1, "SITE": 1, "RNFR": 1, "RNTO": 1, "MDTM": 1, "MLST": 1}},
					{3, 6, map[string]int{"EPSV": 3, "STOR": 3, "SIZE": 3, "HASH": 3, "SITE": 3, "RNFR": 3, "RNTO": 3, "MLST": 3}},
				}
			}
			for i, want := range windows {
				l.Reset()
				for range want.uploads {
					u, err := p.StartUpload(ctx, "/tmp.part")
					if err != nil {
						t.Fatal(err)
					}
					if _, err := u.Write(ctx, data); err != nil {
						t.Fatal(err)
					}
					placed, err := u.Commit(ctx, Placement{Size: int64(len(data)), Mode: 0o600, HasMode: true, To: "/target"})
					if err != nil || placed.ModeErr != nil || placed.Removed {
						t.Fatalf("Commit %d: %v, %+v", i, err, placed)
					}
					fi, err := os.Stat(filepath.Join(s.Root, "target"))
					if got, _ := os.ReadFile(filepath.Join(s.Root, "target")); err != nil || !bytes.Equal(got, data) || fi.Mode().Perm() != 0o600 {
						t.Fatalf("target after Commit %d: %v, mode %v", i, err, fi.Mode())
					}
					if _, err := os.Stat(filepath.Join(s.Root, "tmp.part")); !os.IsNotExist(err) {
						t.Fatalf("the temporary name is still there: %v", err)
					}
					if want := fi.ModTime().Truncate(tc.prec); !placed.ModTime.Equal(want) {
						t.Fatalf("Commit %d told the time %v; the server holds %v", i, placed.ModTime, want)
					}
					data = testutil.RandBytes(uint64(len(data)), 20<<10)
				}
				settle()
				if st := l.Stats(); st.RoundTrips != want.trips || fmt.Sprint(st.Commands) != fmt.Sprint(want.cmds) {
					t.Fatalf("%d whole uploads: %v; want %d round trips, commands %v", want.uploads, st, want.trips, want.cmds)
				}
			}
			if p.answersInTransfer.Load() {
				t.Fatal("the server was taken for one that answers during transfers")
			}
			if st := p.Stats(); st.Dials != 1 {
				t.Fatalf("%d connections dialled, want 1: %+v", st.Dials, st)
			}
		})
	}
}

// inTransferServer is an FTP server for one session at a time that
// answers SIZE sent during an upload at once, before the upload's final
// reply, with early (proftpd: "213 <bytes so far>"; pure-ftpd: "500
// Unknown command"), and may report a size other than the bytes it got.
type inTransferServer struct {
	ln    net.Listener
	early func(got int) string // the reply to SIZE during a transfer
	final string               // the upload's final reply (default 226)
	lie   int                  // added to the size SIZE reports after the transfer
	// swallow: a verb the server takes and never answers, once set
	swallow string
	// drop: a verb the server ignores when it comes during a transfer
	// (pure-ftpd keeps one command of those that arrive together)
	drop string
	// one: the server answers only the first command that comes during
	// a transfer, the others after its final reply (proftpd)
	one bool
	// epsvEarly: EPSV during a transfer opens a port at once (229)
	epsvEarly bool
	// late: the replies to commands that came during a transfer follow
	// its final reply (pure-ftpd's "500 Unknown command")
	late bool

	mu    sync.Mutex
	files map[string]int // name -> size
	verbs []string
}

func startInTransferServer(t *testing.T, early func(got int) string) *inTransferServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &inTransferServer{ln: ln, early: early, final: "226 Transfer complete.", files: map[string]int{}}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go s.serve(c)
		}
	}()
	return s
}

// poolThroughLink is pool, its connections through a link of rtt.
func (s *inTransferServer) poolThroughLink(t *testing.T, rtt time.Duration) (*Pool, *link.Link) {
	t.Helper()
	l, err := link.Start(s.ln.Addr().String(), link.Options{RTT: rtt})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return s.pool(t, func(c *Config) { c.Addr = l.Addr() }), l
}

func (s *inTransferServer) pool(t *testing.T, mods ...func(*Config)) *Pool {
	cfg := Config{Addr: s.ln.Addr().String(), User: "u", Password: "p", Timeout: 5 * time.Second}
	for _, m := range mods {
		m(&cfg)
	}
	p := NewPool(cfg)
	t.Cleanup(p.Close)
	return p
}

func (s *inTransferServer) swallowing(verb string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.swallow = verb
}

func (s *inTransferServer) sent() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.verbs...)
}

func (s *inTransferServer) serve(c net.Conn) {
	defer c.Close()
	lines := make(chan string)
	go func() {
		defer close(lines)
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines <- strings.TrimRight(l, "\r\n")
		}
	}()
	say := func(l string) { fmt.Fprintf(c, "%s\r\n", l) }
	say("220 ready")
	var pasv net.Listener
	var renameFrom string
	for l := range lines {
		verb, arg, _ := strings.Cut(l, " ")
		s.mu.Lock()
		s.verbs = append(s.verbs, verb)
		swallow := verb == s.swallow
		s.mu.Unlock()
		switch {
		case swallow:
			continue
		}
		switch verb {
		case "USER":
			say("230 in")
		case "FEAT":
			say("211-Features:\r\n SIZE\r\n EPSV\r\n211 End")
		case "EPSV":
			pasv, _ = net.Listen("tcp", "127.0.0.1:0")
			say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", pasv.Addr().(*net.TCPAddr).Port))
		case "STOR":
			d, err := pasv.Accept()
			pasv.Close()
			if err != nil {
				return
			}
			say("150 go on")
			// The data comes in on its own goroutine; commands that
			// arrive meanwhile are answered at once.
			got := make(chan int)
			var n int
			var mu sync.Mutex
			go func() {
				buf := make([]byte, 4096)
				for {
					k, err := d.Read(buf)
					mu.Lock()
					n += k
					mu.Unlock()
					if err != nil {
						got <- n
						return
					}
				}
			}()
			// A command that comes with the end of the data is
			// answered first, as when it overtakes the data's end.
			var ended <-chan time.Time
			var held []string // see late
			total := -1
			in := lines
			for total < 0 || ended != nil {
				select {
				case total = <-got:
					d.Close()
					ended = time.After(200 * time.Millisecond)
				case <-ended:
					ended = nil
				case l, ok := <-in:
					if !ok {
						return
					}
					s.mu.Lock()
					s.verbs = append(s.verbs, l[:4])
					drop := l[:4] == s.drop
					s.mu.Unlock()
					if drop {
						continue
					}
					mu.Lock()
					if l[:4] == "EPSV" && s.epsvEarly {
						pasv, _ = net.Listen("tcp", "127.0.0.1:0")
						say(fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", pasv.Addr().(*net.TCPAddr).Port))
					} else if s.late {
						held = append(held, s.early(n))
					} else {
						say(s.early(n))
					}
					mu.Unlock()
					ended = nil
					if s.one {
						in = nil
					} else if total >= 0 {
						// Those that came with it are answered too.
						ended = time.After(50 * time.Millisecond)
					}
				}
			}
			s.mu.Lock()
			s.files[arg] = total
			s.mu.Unlock()
			say(s.final)
			for _, r := range held {
				say(r)
			}
		case "SIZE":
			s.mu.Lock()
			n, ok := s.files[arg]
			s.mu.Unlock()
			if ok {
				say(fmt.Sprintf("213 %d", n+s.lie))
			} else {
				say("550 no such file")
			}
		case "RNFR":
			renameFrom = arg
			say("350 go on")
		case "RNTO":
			s.mu.Lock()
			s.files[arg] = s.files[renameFrom]
			delete(s.files, renameFrom)
			s.mu.Unlock()
			say("250 renamed")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("200 ok")
		}
	}
}

// commitOnce uploads data to /tmp and commits it over /target.
func commitOnce(ctx context.Context, p *Pool, data []byte) error {
	u, err := p.StartUpload(ctx, "/tmp")
	if err != nil {
		return err
	}
	if _, err := u.Write(ctx, data); err != nil {
		return err
	}
	_, err = u.Commit(ctx, Placement{Size: int64(len(data)), To: "/target"})
	return err
}

// TestCommitServerAnswersInTransfer: a server that answers the SIZE sent
// with the end of the data before the upload's final reply (the size so
// far, or a refusal) is asked again after it. One that told a size is
// sent SIZE twice from then on; this one answers both early, and is
// asked again each time, until earlyMissLimit uploads in a row had no
// SIZE answered after the final reply. From then on, as after a
// refusal, SIZE goes after the final reply. No rename rests on a size
// told before the final reply.
func TestCommitServerAnswersInTransfer(t *testing.T) {
	for name, early := range map[string]func(int) string{
		"size so far": func(n int) string { return fmt.Sprintf("213 %d", n) },
		"unknown":     func(int) string { return "500 Unknown command" },
	} {
		t.Run(name, func(t *testing.T) {
			fake := startInTransferServer(t, early)
			p := fake.pool(t)
			ctx := context.Background()
			data := testutil.RandBytes(4, 100<<10)
			if err := commitOnce(ctx, p, data); err != nil {
				t.Fatalf("first commit: %v", err)
			}
			// First: SIZE with the data (answered early), SIZE again
			// after the 226, then the rename. (Where the EPSVs go,
			// ahead or not, depends on when the fake saw the end of the
			// data.)
			want := "STOR SIZE SIZE RNFR RNTO"
			if name == "size so far" {
				if !p.sizeInTransfer.Load() || p.answersInTransfer.Load() {
					t.Fatal("the size told early went unnoticed")
				}
				for i := range earlyMissLimit {
					if err := commitOnce(ctx, p, data); err != nil {
						t.Fatalf("commit %d: %v", i+2, err)
					}
					want += " STOR SIZE SIZE SIZE RNFR RNTO"
				}
			}
			if !p.answersInTransfer.Load() {
				t.Fatal("SIZE still goes with the end of the data")
			}
			if err := commitOnce(ctx, p, data); err != nil {
				t.Fatalf("last commit: %v", err)
			}
			// Last: SIZE only after the 226.
			want += " STOR SIZE RNFR RNTO"
			// Logins are left out: a spare connection may be dialled
			// while one is finishing (Pool.get).
			got := strings.Join(slices.DeleteFunc(fake.sent(), func(v string) bool {
				return slices.Contains([]string{"EPSV", "USER", "PASS", "FEAT", "TYPE", "OPTS"}, v)
			}), " ")
			if got != want {
				t.Fatalf("commands %q, want %q", got, want)
			}
		})
	}
}

// TestCommitUnknownAfterFinal: a server that refuses the SIZE sent with
// the end of the data as unknown, but only after the upload's final reply
// (pure-ftpd: it reads commands during a transfer and answers them
// after), is asked SIZE again after it, and from then on only after it:
// the upload stands. (Before: the 500 was taken for SIZE's answer, and
// the close failed.)
func TestCommitUnknownAfterFinal(t *testing.T) {
	fake := startInTransferServer(t, func(int) string { return "500 Unknown command" })
	fake.late = true
	p := fake.pool(t)
	ctx := context.Background()
	data := testutil.RandBytes(5, 100<<10)
	for i := range 3 {
		if err := commitOnce(ctx, p, data); err != nil {
			t.Fatalf("commit %d: %v", i+1, err)
		}
	}
	if !p.answersInTransfer.Load() || p.answersInOrder.Load() {
		t.Fatal("a SIZE refused after the final reply went unnoticed")
	}
	got := strings.Join(slices.DeleteFunc(fake.sent(), func(v string) bool {
		return slices.Contains([]string{"EPSV", "USER", "PASS", "FEAT", "TYPE", "OPTS"}, v)
	}), " ")
	if want := "STOR SIZE SIZE RNFR RNTO STOR SIZE RNFR RNTO STOR SIZE RNFR RNTO"; got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
}

// TestCommitAnswersInTransferRoundTrips: on a server that answers all
// commands during transfers, an upload costs three round trips once its
// data connection was opened ahead, and once SIZE waits for the final
// reply: STOR with its bytes, read until the final reply; SIZE and the
// next EPSV; the rename, while the next data connection opens. (Before:
// five, EPSV+STOR and the connect first.) While SIZE still goes twice
// with the end of the data, an upload costs no more round trips.
func TestCommitAnswersInTransferRoundTrips(t *testing.T) {
	fake := startInTransferServer(t, func(n int) string { return fmt.Sprintf("213 %d", n) })
	p, l := fake.poolThroughLink(t, 20*time.Millisecond)
	ctx := context.Background()
	for i := range earlyMissLimit + 4 {
		waitIdle(t, p)
		time.Sleep(40 * time.Millisecond) // the handshake of the one opened ahead
		l.Reset()
		if err := commitOnce(ctx, p, testutil.RandBytes(uint64(30+i), 10<<10)); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		st := l.Stats()
		// The fake ends a transfer on a timer, which the link does not
		// count as a round: the client's flights tell. STOR with the
		// bytes, SIZE+EPSV, the rename, the connect ahead.
		if i >= 2 && st.RoundTrips > 3 {
			t.Fatalf("commit %d: %v; want 3 round trips at most", i, st)
		}
		if i >= earlyMissLimit+2 && (st.Flights != 4 || st.Commands["EPSV"] != 1 || st.Commands["SIZE"] != 1) {
			t.Fatalf("commit %d: %v; want 4 flights (3 round trips), one SIZE and one EPSV ahead", i, st)
		}
	}
	if !p.answersInTransfer.Load() {
		t.Fatal("the early answers went unnoticed")
	}
}

// TestCommitSizeTwiceRoundTrips: a server that answers one command during
// a transfer (proftpd, which then answers the others after its final
// reply): once it told a size during a transfer, SIZE goes twice with the
// end of the data, and the EPSV behind: one SIZE is answered after the
// final reply, and an upload costs two round trips, as on a server that
// answers in order: STOR with its bytes, the SIZEs and EPSV behind; the
// rename, while the next data connection opens. (Before: three, the SIZE
// after the final reply.)
func TestCommitSizeTwiceRoundTrips(t *testing.T) {
	fake := startInTransferServer(t, func(n int) string { return fmt.Sprintf("213 %d", n) })
	fake.one = true
	p, l := fake.poolThroughLink(t, 20*time.Millisecond)
	ctx := context.Background()
	for i := range earlyMissLimit + 4 {
		waitIdle(t, p)
		time.Sleep(40 * time.Millisecond) // the handshake of the one opened ahead
		l.Reset()
		data := testutil.RandBytes(uint64(40+i), 10<<10)
		if err := commitOnce(ctx, p, data); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
		st := l.Stats()
		// The fake ends a transfer on a timer, which the link does not
		// count as a round: the client's flights tell. STOR with the
		// bytes and the SIZEs and EPSV behind; the rename; the connect
		// ahead.
		if i >= 2 && (st.Flights != 3 || st.RoundTrips > 2 || st.Commands["EPSV"] != 1 || st.Commands["SIZE"] != 2 || st.Data != 1) {
			t.Fatalf("commit %d: %v; want 3 flights (2 round trips), two SIZEs, one EPSV and its data connection ahead", i, st)
		}
		fake.mu.Lock()
		n := fake.files["/target"]
		fake.mu.Unlock()
		if n != len(data) {
			t.Fatalf("commit %d: /target holds %d bytes, want %d", i, n, len(data))
		}
	}
	if !p.sizeInTransfer.Load() || p.answersInTransfer.Load() {
		t.Fatalf("sizeInTransfer %v, answersInTransfer %v: want SIZE twice with the end of the data", p.sizeInTransfer.Load(), p.answersInTransfer.Load())
	}
}

// TestCommitEarlyEPSVDropped: a server that answered an upload's SIZE
// after its final reply, and then answers one during a transfer and
// drops the EPSV sent with it, as pure-ftpd does (or answers it after
// the final reply): the upload is still
// committed, a NOOP shows where the replies are, and the connection
// goes on in step: SIZE is asked again with another EPSV, whose data
// connection the next upload takes; SIZE and EPSV after the final reply
// from then on.
func TestCommitEarlyEPSVDropped(t *testing.T) {
	for _, drop := range []string{"EPSV", ""} {
		t.Run("drop "+drop, func(t *testing.T) { earlyEPSV(t, drop) })
	}
}

func earlyEPSV(t *testing.T, drop string) {
	fake := startInTransferServer(t, func(int) string { return "500 Unknown command" })
	fake.drop = drop
	p := fake.pool(t)
	p.answersInOrder.Store(true) // as after an upload answered in order
	ctx := context.Background()
	for i := range 2 {
		if err := commitOnce(ctx, p, testutil.RandBytes(uint64(20+i), 30<<10)); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	sent := fake.sent()
	if drop == "" {
		// The EPSV answered during the transfer needs no NOOP; answered
		// after the final reply, it does: the fake's timing decides.
		sent = slices.DeleteFunc(sent, func(v string) bool { return v == "NOOP" })
	}
	got := strings.Join(sent, " ")
	want := "USER FEAT TYPE EPSV STOR SIZE EPSV NOOP SIZE EPSV RNFR RNTO STOR SIZE EPSV RNFR RNTO"
	if drop == "" {
		want = strings.Replace(want, " NOOP", "", 1)
	}
	if got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if fake.files["/target"] != 30<<10 || len(fake.files) != 1 {
		t.Fatalf("files on the server: %v", fake.files)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want 1", st.Dials)
	}
}

// TestCommitWrongSizeRenamesNothing: a server that says 226 but holds
// another size than was sent: the commit fails, and neither RNFR nor
// RNTO goes out, the old content stays.
func TestCommitWrongSizeRenamesNothing(t *testing.T) {
	fake := startInTransferServer(t, func(n int) string { return fmt.Sprintf("213 %d", n) })
	fake.lie = -1
	p := fake.pool(t)
	ctx := context.Background()
	for i := range 2 { // SIZE with the data's end, then after the final reply
		err := commitOnce(ctx, p, testutil.RandBytes(5, 10<<10))
		if err == nil || !strings.Contains(err.Error(), "bytes") {
			t.Fatalf("commit %d of a wrong-sized upload: %v", i, err)
		}
		p.answersInTransfer.Store(true)
	}
	for _, v := range fake.sent() {
		if v == "RNFR" || v == "RNTO" {
			t.Fatalf("a wrong-sized upload was renamed: %q", fake.sent())
		}
	}
}

// TestCommitSizeTwiceWrongSize: SIZE twice with the end of the data, on
// a server that answers the first during the transfer with the right
// size, and the second after its final reply with another: the commit
// fails and renames nothing, however right the early answer was.
func TestCommitSizeTwiceWrongSize(t *testing.T) {
	fake := startInTransferServer(t, func(n int) string { return fmt.Sprintf("213 %d", n) })
	fake.one, fake.lie = true, -1
	p := fake.pool(t)
	p.sizeInTransfer.Store(true) // as after a size told during a transfer
	data := testutil.RandBytes(7, 10<<10)
	err := commitOnce(context.Background(), p, data)
	if err == nil || !strings.Contains(err.Error(), "bytes") {
		t.Fatalf("commit of a wrong-sized upload: %v", err)
	}
	got := strings.Join(slices.DeleteFunc(fake.sent(), func(v string) bool { return v == "EPSV" }), " ")
	if want := "USER FEAT TYPE STOR SIZE SIZE"; got != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
}

// TestCommitSizeTwiceRefused: the upload fails (552) with SIZE twice and
// EPSV behind its end: the upload's own reply is the error, whatever
// came first, nothing is renamed, and the connection stays in step.
func TestCommitSizeTwiceRefused(t *testing.T) {
	fake := startInTransferServer(t, func(n int) string { return fmt.Sprintf("213 %d", n) })
	fake.one, fake.final = true, "552 Quota exceeded."
	p := fake.pool(t)
	ctx := context.Background()
	if _, err := p.Store(ctx, "/warm", bytes.NewReader([]byte("x"))); err == nil {
		t.Fatal("the fake took an upload") // logs in and proves EPSV
	}
	p.sizeInTransfer.Store(true) // as after a size told during a transfer
	err := commitOnce(ctx, p, testutil.RandBytes(8, 10<<10))
	if Classify(err) != ClassQuota && Classify(err) != ClassNoSpace {
		t.Fatalf("commit: %v (class %d), want the 552", err, Classify(err))
	}
	if err := p.Delete(ctx, "/tmp"); err != nil {
		t.Fatalf("the next command on the connection: %v", err)
	}
	got := strings.Join(slices.DeleteFunc(fake.sent(), func(v string) bool { return v == "EPSV" }), " ")
	if !strings.HasSuffix(got, "STOR SIZE SIZE DELE") || strings.Contains(got, "RNFR") {
		t.Fatalf("commands %q: want STOR SIZE SIZE DELE at the end, and no rename", got)
	}
	if st := p.Stats(); st.Dials != 1 {
		t.Fatalf("%d connections dialled, want 1", st.Dials)
	}
}

// TestCommitRefusedAfterEarlySize: the upload fails (552) on a server
// that refused the early SIZE (500): the upload's own reply is the error,
// whatever came first.
func TestCommitRefusedAfterEarlySize(t *testing.T) {
	fake := startInTransferServer(t, func(int) string { return "500 Unknown command" })
	fake.final = "552 Quota exceeded."
	p := fake.pool(t)
	err := commitOnce(context.Background(), p, testutil.RandBytes(6, 100<<10))
	if Classify(err) != ClassQuota && Classify(err) != ClassNoSpace {
		t.Fatalf("commit: %v (class %d), want the 552", err, Classify(err))
	}
}

// TestCommitNoPipelining: with Config.NoPipelining the SIZE waits for the
// upload's final reply instead of travelling with the end of its data,
// and a time set after the upload waits for its own reply.
func TestCommitNoPipelining(t *testing.T) {
	s := startServer(t)
	p, l := throughLink(t, s, func(c *Config) { c.NoPipelining = true })
	ctx := context.Background()
	data := testutil.RandBytes(9, 20<<10)
	if _, err := p.Store(ctx, "/warm", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if err := p.SetTime(ctx, "/warm", time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)); err != nil {
		t.Fatal(err) // a time has been set once: SetTimeSoon could skip the wait
	}
	l.Reset()
	u, err := p.StartUpload(ctx, "/tmp.part")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := u.Write(ctx, data); err != nil {
		t.Fatal(err)
	}
	if _, err := u.Commit(ctx, Placement{Size: int64(len(data)), To: "/target"}); err != nil {
		t.Fatal(err)
	}
	if st := l.Stats(); st.RoundTrips != 6 {
		t.Fatalf("upload without pipelining: %v; want 6 round trips (SIZE after the 226, then HASH)", st)
	}
	l.Reset()
	mt := time.Date(2021, 2, 3, 4, 5, 6, 0, time.UTC)
	if err := p.SetTimeSoon(ctx, "/target", mt, func(err error) { t.Errorf("late failure: %v", err) }); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(s.Root, "target")); err != nil || !fi.ModTime().Equal(mt) {
		t.Fatalf("SetTimeSoon returned before the time was set: %v, %v", fi.ModTime(), err)
	}
}
