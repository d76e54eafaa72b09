package conn

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"ftpfs/ftpd"
)

// fakeServer greets every connection with 220 and answers each command
// with answer(verb, r): its reply, or false to hang up. r is the
// connection's reader, for a server that looks at what else was sent.
// It serves until the test ends.
func fakeServer(t *testing.T, answer func(verb string, r *bufio.Reader) (string, bool)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for c, err := ln.Accept(); err == nil; c, err = ln.Accept() {
			go func(c net.Conn) {
				defer c.Close()
				c.Write([]byte("220 ready\r\n"))
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					reply, ok := answer(strings.Fields(line + " x")[0], r)
					if !ok {
						return
					}
					c.Write([]byte(reply + "\r\n"))
				}
			}(c)
		}
	}()
	return ln.Addr().String()
}

// scripted answers each verb with its line of replies, a verb not in
// replies with 502.
func scripted(replies map[string]string) func(string, *bufio.Reader) (string, bool) {
	return func(verb string, _ *bufio.Reader) (string, bool) {
		if r, ok := replies[verb]; ok && r != "" {
			return r, true
		}
		return "502 no", true
	}
}

// probeConn logs in to the fake server at addr, for one probe.
func probeConn(t *testing.T, addr string) (*Conn, Config) {
	t.Helper()
	cfg := Config{Addr: addr, User: testUser, Password: testPass, Timeout: 5 * time.Second}
	cfg.fill()
	c, err := dial(context.Background(), &cfg, 1, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.close)
	return c, cfg
}

// pasvReply is a 227 naming addr.
func pasvReply(addr net.Addr) string {
	a := addr.(*net.TCPAddr)
	ip := a.IP.To4()
	return fmt.Sprintf("227 Entering Passive Mode (%d,%d,%d,%d,%d,%d)", ip[0], ip[1], ip[2], ip[3], a.Port>>8, a.Port&255)
}

// listen opens a data port on host that the test closes.
func listen(t *testing.T, host string) net.Listener {
	ln, err := net.Listen("tcp", host+":0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// TestProbePASVAddress: a PASV reply that names another address than the
// control connection's peer (a server behind NAT) is fine where the peer
// also answers on the port, calls for --trust-pasv-ip where only the named
// address does, and does not matter where EPSV works.
func TestProbePASVAddress(t *testing.T) {
	onBoth := listen(t, "0.0.0.0") // the peer (127.0.0.1) answers too
	elsewhere := listen(t, "127.0.0.2")
	for _, tc := range []struct {
		name   string
		epsv   string
		data   net.Listener
		trust  bool // --trust-pasv-ip
		want   Verdict
		advice Advice
		detail string
	}{
		{"peer answers", "", onBoth, false, ProbeOK, AdviseNone, "the mount connects to the latter, which works"},
		{"only the named address", "", elsewhere, false, ProbeProblem, AdviseTrustPASVIP, "only the named address answers"},
		{"trusted", "", elsewhere, true, ProbeOK, AdviseNone, "the mount connects to the former (--trust-pasv-ip), which works"},
		{"EPSV instead", fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", onBoth.Addr().(*net.TCPAddr).Port), elsewhere, false, ProbeOK, AdviseNone, "the mount uses EPSV"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			named := tc.data.Addr()
			if tc.data == onBoth {
				named = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 3), Port: onBoth.Addr().(*net.TCPAddr).Port}
			}
			c, cfg := probeConn(t, fakeServer(t, scripted(map[string]string{"USER": "331 password", "PASS": "230 in", "TYPE": "200 binary",
				"EPSV": tc.epsv, "PASV": pasvReply(named)})))
			cfg.TrustPASVIP = tc.trust
			ctx := context.Background()
			var got []Finding
			pr := &prober{cfg: cfg, report: func(f Finding) { got = append(got, f) }}
			pr.passive(ctx, c)
			var pasv *Finding
			for i := range got {
				if got[i].Topic == "PASV" {
					pasv = &got[i]
				}
			}
			if pasv == nil {
				t.Fatalf("no PASV finding in %+v", got)
			}
			if pasv.Verdict != tc.want || pasv.Advice != tc.advice || !strings.Contains(pasv.Detail, tc.detail) {
				t.Errorf("PASV finding %+v, want verdict %d, advice %d, %q", *pasv, tc.want, tc.advice, tc.detail)
			}
		})
	}
}

// TestProbeListing: LIST lines no parser reads and names that are not
// UTF-8 are reported, with a sample of each; a LIST time two hours ahead
// of the file's MDTM is a server listing in its local time.
func TestProbeListing(t *testing.T) {
	listed := time.Now().UTC().Add(-time.Hour).Truncate(time.Minute)
	data := listen(t, "127.0.0.1")
	go func() {
		for c, err := data.Accept(); err == nil; c, err = data.Accept() {
			c.Write([]byte("-rw-r--r--    1 0        0               5 Jan 02  2020 good\r\n" +
				"this is no listing line\r\n" +
				"-rw-r--r--    1 0        0               5 " + listed.Format("Jan _2 15:04") + " recent\r\n" +
				"-rw-r--r--    1 0        0               5 Jan 02  2020 caf\xe9\r\n"))
			c.Close()
		}
	}()
	c, cfg := probeConn(t, fakeServer(t, scripted(map[string]string{"USER": "331 password", "PASS": "230 in", "TYPE": "200 binary",
		"EPSV": fmt.Sprintf("229 Entering Extended Passive Mode (|||%d|)", data.Addr().(*net.TCPAddr).Port),
		"LIST": "150 here\r\n226 done", "MDTM": "213 " + listed.Add(-2*time.Hour).Format("20060102150405")})))
	ctx := context.Background()
	got := map[string]Finding{}
	pr := &prober{cfg: cfg, o: ProbeOptions{Dir: "/"}, pool: NewPool(cfg), report: func(f Finding) { got[f.Topic] = f }}
	defer pr.pool.Close()
	pr.list(ctx, c)
	if f := got["LIST"]; f.Verdict != ProbeProblem || !strings.Contains(f.Detail, `1 lines no parser reads, left out of the mount, e.g. "this is no listing line"`) {
		t.Errorf("LIST finding %+v", f)
	}
	if f := got["time zone of LIST"]; f.Verdict != ProbeProblem || !strings.Contains(f.Detail, "LIST's times are +2h0m0s off MDTM's") {
		t.Errorf("time zone finding %+v", f)
	}
	if f := got["names"]; f.Verdict != ProbeProblem || !strings.Contains(f.Detail, `1 not UTF-8, e.g. "caf\xe9"`) {
		t.Errorf("names finding %+v", f)
	}
}

// TestProbeRoundTrip: the round trip is the best of the NOOPs timed, and
// a timeout within twenty of them is called too short.
func TestProbeRoundTrip(t *testing.T) {
	const delay = 30 * time.Millisecond
	s := startServer(t, func(c *ftpd.Config) { c.Faults.ReplyDelay = delay })
	for _, tc := range []struct {
		timeout time.Duration
		want    Verdict
	}{{5 * time.Second, ProbeOK}, {400 * time.Millisecond, ProbeProblem}} {
		cfg := Config{Addr: s.Addr().String(), User: testUser, Password: testPass, Timeout: tc.timeout}
		cfg.fill()
		c, err := dial(context.Background(), &cfg, 1, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		var got Finding
		pr := &prober{cfg: cfg, report: func(f Finding) { got = f }}
		pr.roundTrip(context.Background(), c)
		c.close()
		ms, _, _ := strings.Cut(got.Detail, " ms")
		rtt, err := strconv.ParseFloat(ms, 64)
		if err != nil || rtt < 30 || rtt > 1000 || got.Verdict != tc.want {
			t.Errorf("timeout %v: finding %+v, want about %v and verdict %d", tc.timeout, got, delay, tc.want)
		}
	}
}
