package link

import (
	"bytes"
	"errors"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// fakePassive announces 10.9.8.7:4242 (16,146) for every server port and
// records the ports asked for.
type fakePassive struct {
	ports []int
	err   error
}

func (f *fakePassive) listen(v4 bool, port int) (net.IP, int, error) {
	f.ports = append(f.ports, port)
	if f.err != nil {
		return nil, 0, f.err
	}
	return net.IPv4(10, 9, 8, 7), 4242, nil
}

var replyCases = []struct {
	name, in, want string
	ports          []int
}{
	{"pasv", "227 Entering Passive Mode (127,0,0,1,200,10).\r\n",
		"227 Entering Passive Mode (10,9,8,7,16,146).\r\n", []int{51210}},
	{"epsv", "229 Entering Extended Passive Mode (|||51210|)\r\n",
		"229 Entering Extended Passive Mode (|||4242|)\r\n", []int{51210}},
	{"epsv other delimiter", "229 ok (!!!2000!)\r\n", "229 ok (!!!4242!)\r\n", []int{2000}},
	{"pasv without parentheses", "227 =127,0,0,1,4,1\r\n", "227 =10,9,8,7,16,146\r\n", []int{1025}},
	{"pipelined", "200 NOOP ok.\r\n227 Passive (127,0,0,1,4,1)\r\n229 Extended (|||1025|)\r\n226 Done.\r\n",
		"200 NOOP ok.\r\n227 Passive (10,9,8,7,16,146)\r\n229 Extended (|||4242|)\r\n226 Done.\r\n", []int{1025, 1025}},
	{"decoys in another multi-line reply",
		"211-Status\r\n227 Entering Passive Mode (1,2,3,4,5,6)\r\n229 (|||99|)\r\n211-still status\r\n211 End\r\n227 (127,0,0,1,0,21)\r\n",
		"211-Status\r\n227 Entering Passive Mode (1,2,3,4,5,6)\r\n229 (|||99|)\r\n211-still status\r\n211 End\r\n227 (10,9,8,7,16,146)\r\n", []int{21}},
	{"multi-line 227, address on its last line",
		"227-Passive,\r\n227-over three lines\r\n227 (127,0,0,1,4,1)\r\n",
		"227-Passive,\r\n227-over three lines\r\n227 (10,9,8,7,16,146)\r\n", []int{1025}},
	{"multi-line 229, address on its first line, rewritten once",
		"229-Extended (|||1025|)\r\n (|||1026|)\r\n229 End\r\n",
		"229-Extended (|||4242|)\r\n (|||1026|)\r\n229 End\r\n", []int{1025}},
	{"no address", "227 nothing here\r\n", "227 nothing here\r\n", nil},
	{"numbers out of range", "227 (256,0,0,1,4,1)\r\n", "227 (256,0,0,1,4,1)\r\n", nil},
	{"port out of range", "229 (|||70000|)\r\n", "229 (|||70000|)\r\n", nil},
	{"four-digit code", "2270 (127,0,0,1,4,1)\r\n", "2270 (127,0,0,1,4,1)\r\n", nil},
	{"bare LF", "227 (127,0,0,1,4,1)\n200 ok\n", "227 (10,9,8,7,16,146)\n200 ok\n", []int{1025}},
	{"unfinished line passes at the end", "200 ok\r\n227 (127,0,0", "200 ok\r\n227 (127,0,0", nil},
}

func rewriteAll(f *fakePassive, parts [][]byte) string {
	w := &replyRewriter{passive: f.listen}
	var out []byte
	for _, p := range parts {
		out = append(out, w.feed(p)...)
	}
	return string(append(out, w.flush()...))
}

func bytewise(s string) [][]byte {
	var parts [][]byte
	for i := range len(s) {
		parts = append(parts, []byte{s[i]})
	}
	return parts
}

func TestReplyRewrite(t *testing.T) {
	for _, tc := range replyCases {
		t.Run(tc.name, func(t *testing.T) {
			for split, parts := range map[string][][]byte{"whole": {[]byte(tc.in)}, "bytewise": bytewise(tc.in)} {
				f := &fakePassive{}
				if got := rewriteAll(f, parts); got != tc.want {
					t.Errorf("%s:\n got %q\nwant %q", split, got, tc.want)
				}
				if !reflect.DeepEqual(f.ports, tc.ports) {
					t.Errorf("%s: server ports %v, want %v", split, f.ports, tc.ports)
				}
			}
		})
	}
}

// A reply the link cannot relay loses its address, so that the client
// fails instead of connecting around the link.
func TestReplyRewriteListenError(t *testing.T) {
	f := &fakePassive{err: errors.New("no ports")}
	got := rewriteAll(f, [][]byte{[]byte("227 Entering Passive Mode (127,0,0,1,4,1).\r\n200 ok\r\n")})
	want := "227 The link emulator cannot relay this data connection: no ports\r\n200 ok\r\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// The end of every final reply is found, however replies are written.
func TestFinalReplies(t *testing.T) {
	in := "120 wait\r\n220-hi\r\n220-still\r\n220 ok\r\n150 open\r\n226 done\r\n211-a\r\n226 not the end\r\n211 end\r\n"
	for split, parts := range map[string][][]byte{"whole": {[]byte(in)}, "bytewise": bytewise(in)} {
		var out []byte
		n := 0
		w := &replyRewriter{passive: (&fakePassive{}).listen, final: func() []byte {
			n++
			return []byte("<" + strconv.Itoa(n) + ">")
		}}
		for _, p := range parts {
			out = append(out, w.feed(p)...)
		}
		want := "120 wait\r\n220-hi\r\n220-still\r\n220 ok\r\n<1>150 open\r\n226 done\r\n<2>211-a\r\n226 not the end\r\n211 end\r\n<3>"
		if string(out) != want {
			t.Errorf("%s: got %q, want %q", split, out, want)
		}
	}
}

// scan feeds parts and returns the bytes for the server, with each reply
// the link gives in place written as "<reply>", and the verbs counted.
func scan(parts [][]byte) (string, []string) {
	var verbs []string
	s := &commandScanner{count: func(v string) { verbs = append(verbs, v) }}
	var out strings.Builder
	for _, p := range parts {
		for _, pc := range s.feed(p) {
			switch {
			case pc.active:
				out.WriteString("[" + string(pc.data) + "]")
			case pc.hold:
				out.WriteString("<hold " + strconv.Itoa(pc.after) + ">")
			default:
				out.Write(pc.data)
			}
			if pc.reply != nil {
				out.WriteString("<" + string(pc.reply[:3]) + ">")
			}
		}
	}
	out.Write(s.flush())
	return out.String(), verbs
}

func TestCommandScanner(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
		verbs          []string
	}{
		{"plain", "USER alice\r\nPASS secret\r\nNOOP\r\n", "USER alice\r\nPASS secret\r\nNOOP\r\n", []string{"USER", "PASS", "NOOP"}},
		{"refused in place", "NOOP\r\nAUTH TLS\r\nauth ssl\r\nPWD\r\n",
			"NOOP\r\n<534><534>PWD\r\n", []string{"NOOP", "AUTH", "AUTH", "PWD"}},
		// The greeting is final reply 1, NOOP's 2, PORT's 3, RETR's 4.
		{"active lines whole, a hold after their transfer", "NOOP\r\nPORT 127,0,0,1,4,1\r\nTYPE I\r\nRETR a\r\nNOOP\r\neprt |1|127.0.0.1|1025|\r\nLIST\r\n",
			"NOOP\r\n[PORT 127,0,0,1,4,1\r\n]TYPE I\r\nRETR a\r\n<hold 5>NOOP\r\n[eprt |1|127.0.0.1|1025|\r\n]LIST\r\n<hold 8>",
			[]string{"NOOP", "PORT", "TYPE", "RETR", "NOOP", "EPRT", "LIST"}},
		{"passive mode drops the active address", "EPRT |1|127.0.0.1|1025|\r\nEPSV\r\nRETR a\r\nRETR b\r\n",
			"[EPRT |1|127.0.0.1|1025|\r\n]EPSV\r\nRETR a\r\nRETR b\r\n", []string{"EPRT", "EPSV", "RETR", "RETR"}},
		{"look-alikes pass", "AUTHX\r\nPORTS\r\nAU\r\n", "AUTHX\r\nPORTS\r\nAU\r\n", []string{"AUTHX", "PORTS", "AU"}},
		{"telnet bytes before ABOR", "\xff\xf4\xff\xf2ABOR\r\n", "\xff\xf4\xff\xf2ABOR\r\n", []string{"ABOR"}},
		{"unfinished line passes at the end", "NOOP\r\nAUTH TL", "NOOP\r\nAUTH TL", []string{"NOOP"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for split, parts := range map[string][][]byte{"whole": {[]byte(tc.in)}, "bytewise": bytewise(tc.in)} {
				got, verbs := scan(parts)
				if got != tc.want || !reflect.DeepEqual(verbs, tc.verbs) {
					t.Errorf("%s: got %q %v, want %q %v", split, got, verbs, tc.want, tc.verbs)
				}
			}
		})
	}
}

// splits cuts b at the offsets the fuzzer chose.
func splits(b []byte, cuts []byte) [][]byte {
	var parts [][]byte
	for _, c := range cuts {
		if len(b) == 0 {
			break
		}
		n := int(c) % (len(b) + 1)
		parts = append(parts, b[:n])
		b = b[n:]
	}
	return append(parts, b)
}

// How a stream is cut into reads never changes what comes out, and a
// stream without a passive reply code comes out as it went in.
func FuzzReplyRewrite(f *testing.F) {
	for _, tc := range replyCases {
		f.Add([]byte(tc.in), []byte{3, 1, 7})
	}
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		whole := rewriteAll(&fakePassive{}, [][]byte{in})
		if got := rewriteAll(&fakePassive{}, splits(in, cuts)); got != whole {
			t.Fatalf("split %v: %q, whole: %q", cuts, got, whole)
		}
		if !bytes.Contains(in, []byte("227")) && !bytes.Contains(in, []byte("229")) && whole != string(in) {
			t.Fatalf("changed %q into %q", in, whole)
		}
	})
}

func FuzzCommandScanner(f *testing.F) {
	f.Add([]byte("NOOP\r\nAUTH TLS\r\nPORT 1,2,3,4,5,6\r\nPWD\r\n"), []byte{2, 9})
	f.Add([]byte("EPRT |1|127.0.0.1|1025|\r\nRETR a\r\nEPSV\r\nPORT 1,2\r\nLIST\r\n"), []byte{5, 30})
	f.Fuzz(func(t *testing.T, in, cuts []byte) {
		out, verbs := scan([][]byte{in})
		out2, verbs2 := scan(splits(in, cuts))
		if out != out2 || !reflect.DeepEqual(verbs, verbs2) {
			t.Fatalf("split %v: %q %v, whole: %q %v", cuts, out2, verbs2, out, verbs)
		}
	})
}
