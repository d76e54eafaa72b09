package conn

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"ftpfs/ftpd"
	"ftpfs/internal/testutil"
)

func mustCharset(t testing.TB, name string) *Charset {
	t.Helper()
	cs, err := ParseCharset(name)
	if err != nil || cs == nil {
		t.Fatalf("ParseCharset(%q): %v, %v", name, cs, err)
	}
	return cs
}

// TestParseCharset: IANA and WHATWG names and aliases, canonical names
// in the log's spelling, UTF-8 as no conversion, and the encodings that
// cannot carry FTP's command lines refused.
func TestParseCharset(t *testing.T) {
	for in, want := range map[string]string{
		"GBK": "GBK", "gbk": "GBK", "cp936": "GBK", "GB18030": "GB18030", "Big5": "Big5",
		"Shift_JIS": "Shift_JIS", "sjis": "Shift_JIS", "EUC-JP": "EUC-JP", "EUC-KR": "EUC-KR",
		"windows-1251": "windows-1251", "cp1251": "windows-1251", "KOI8-R": "KOI8-R",
		"ISO-8859-1": "ISO-8859-1", "latin1": "ISO-8859-1", "windows-1252": "windows-1252",
	} {
		if cs, err := ParseCharset(in); err != nil || cs.String() != want {
			t.Errorf("ParseCharset(%q) = %v, %v; want %s", in, cs, err, want)
		}
	}
	if cs, err := ParseCharset("utf8"); cs != nil || err != nil {
		t.Errorf("UTF-8: %v, %v; want no conversion", cs, err)
	}
	for _, bad := range []string{"ISO-2022-JP", "UTF-16", "UTF-16LE", "HZ-GB-2312", "no-such-thing", ""} {
		if cs, err := ParseCharset(bad); err == nil {
			t.Errorf("ParseCharset(%q) = %v, want an error", bad, cs)
		}
	}
}

// charsetCases are names in each encoding, as UTF-8 and as the server's
// bytes, and names each cannot hold.
var charsetCases = []struct {
	charset   string
	utf8, raw string
	cannot    []string
}{
	{"GBK", "中文文件.txt", "\xd6\xd0\xce\xc4\xce\xc4\xbc\xfe.txt", []string{"한국어", "\U0001F600"}},
	{"GB18030", "中文\U0001F600.txt", "\xd6\xd0\xce\xc4\x949\xfc6.txt", nil},
	{"Big5", "繁體.txt", "\xc1c\xc5\xe9.txt", []string{"简体"}},
	{"Shift_JIS", "日本語ファイル", "\x93\xfa\x96{\x8c\xea\x83t\x83@\x83C\x83\x8b", []string{"中文简体"}},
	{"EUC-JP", "日本語", "\xc6\xfc\xcb\xdc\xb8\xec", []string{"한"}},
	{"EUC-KR", "한국어 파일", "\xc7\xd1\xb1\xb9\xbe\xee \xc6\xc4\xc0\xcf", []string{"ไทย", "\U0001F600"}},
	{"windows-1251", "Привет мир", "\xcf\xf0\xe8\xe2\xe5\xf2 \xec\xe8\xf0", []string{"中", "café"}},
	{"ISO-8859-1", "café déjà", "caf\xe9 d\xe9j\xe0", []string{"Привет", "€"}},
}

// TestCharsetConversion: names convert both ways; a name the encoding
// lacks, bytes that are not UTF-8, and U+FFFD (a byte decode could not
// read) are ErrUnencodable; ASCII passes untouched.
func TestCharsetConversion(t *testing.T) {
	for _, tc := range charsetCases {
		cs := mustCharset(t, tc.charset)
		if got, err := cs.encode(tc.utf8); err != nil || got != tc.raw {
			t.Errorf("%s: encode(%q) = %q, %v; want %q", tc.charset, tc.utf8, got, err, tc.raw)
		}
		if got := cs.decode(tc.raw); got != tc.utf8 {
			t.Errorf("%s: decode(%q) = %q, want %q", tc.charset, tc.raw, got, tc.utf8)
		}
		for _, s := range append(tc.cannot, "bad\xff\xfeutf8", "lost\uFFFD") {
			if _, err := cs.encode(s); !errors.Is(err, ErrUnencodable) || Classify(err) != ClassIllegalName {
				t.Errorf("%s: encode(%q): %v, want ErrUnencodable", tc.charset, s, err)
			}
		}
		if got, err := cs.encode("RNTO /plain/ascii name.txt"); err != nil || got != "RNTO /plain/ascii name.txt" {
			t.Errorf("%s: ASCII changed: %q %v", tc.charset, got, err)
		}
	}
	var none *Charset
	if got, err := none.encode("raw\xff"); err != nil || got != "raw\xff" || none.decode("raw\xfe") != "raw\xfe" {
		t.Errorf("no encoding changed a name: %q %v", got, err)
	}
}

// TestGuessCharset: a directory's names in each encoding are guessed as
// that encoding; names that read in no candidate give no guess.
func TestGuessCharset(t *testing.T) {
	dirs := map[string][]string{
		"GBK":          {"中文文件名.txt", "会议记录 2024.docx", "数据备份"},
		"Big5":         {"繁體中文.txt", "會議記錄.doc"},
		"Shift_JIS":    {"日本語のファイル.txt", "議事録.pdf"},
		"EUC-KR":       {"한국어 파일.txt", "회의록.hwp"},
		"windows-1251": {"Привет мир.txt", "Отчёт за год.xls"},
		"ISO-8859-1":   {"café déjà vu.txt", "Größe.pdf"},
	}
	for charset, names := range dirs {
		cs := mustCharset(t, charset)
		var raw []string
		for _, n := range names {
			b, err := cs.encode(n)
			if err != nil {
				t.Fatal(err)
			}
			raw = append(raw, b)
		}
		gs := GuessCharset(raw)
		if len(gs) == 0 || gs[0].Charset != charset || gs[0].Sample != names[0] {
			t.Errorf("%s names: guessed %+v", charset, gs)
		}
	}
	// 0x80 alone is undefined in GBK, Big5, Shift_JIS, EUC-*; 0x98 in
	// windows-1251; and ISO-8859-1 cannot give back a C1 control... it
	// can: only names that no candidate reads give none.
	if gs := GuessCharset([]string{"\x81\x20"}); slices.ContainsFunc(gs, func(g Guess) bool { return g.Charset != "ISO-8859-1" && g.Charset != "windows-1251" }) {
		t.Errorf("a lead byte before a space read as a double-byte character: %+v", gs)
	}
}

// FuzzCharset: whatever the server sends decodes to UTF-8; what decodes
// exactly converts back to the same bytes; whatever a program names
// either converts and reads back the same, or is refused.
func FuzzCharset(f *testing.F) {
	for _, tc := range charsetCases {
		f.Add(tc.raw, tc.utf8)
	}
	f.Add("\xff\xfe\x80", "\uFFFD")
	sets := []*Charset{}
	for _, tc := range charsetCases {
		sets = append(sets, mustCharset(f, tc.charset))
	}
	f.Fuzz(func(t *testing.T, raw, name string) {
		for _, cs := range sets {
			d := cs.decode(raw)
			if !utf8.ValidString(d) {
				t.Fatalf("%s: decode(%q) = %q, not UTF-8", cs, raw, d)
			}
			if back, ok := cs.decodesExactly(raw); ok {
				if b, err := cs.encode(back); err != nil || b != raw {
					t.Fatalf("%s: %q decodes exactly to %q, which encodes to %q, %v", cs, raw, back, b, err)
				}
			}
			b, err := cs.encode(name)
			if err != nil {
				if !errors.Is(err, ErrUnencodable) {
					t.Fatalf("%s: encode(%q): %v", cs, name, err)
				}
				continue
			}
			if got := cs.decode(b); got != name {
				t.Fatalf("%s: %q encodes to %q, which decodes to %q", cs, name, b, got)
			}
			if strings.ContainsAny(b, "\r\n\x00/ ") != strings.ContainsAny(name, "\r\n\x00/ ") {
				t.Fatalf("%s: %q encodes to %q: a byte that means something to FTP appeared or vanished", cs, name, b)
			}
		}
	})
}

// TestEncodingAgainstFtpd: ftpd serves a tree whose names are GBK bytes
// on its disk, as a Chinese Windows server does. With Encoding GBK the
// pool lists them (MLSD, LIST, STAT) and stats them (MLST) in UTF-8,
// creates, renames and deletes them in GBK, never sends OPTS UTF8 ON
// (which would switch such servers to UTF-8), and refuses a name GBK
// cannot hold before sending anything.
func TestEncodingAgainstFtpd(t *testing.T) {
	gbk := mustCharset(t, "GBK")
	enc := func(s string) string {
		b, err := gbk.encode(s)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	for _, profile := range []ftpd.Profile{ftpd.ProfileFull, ftpd.ProfileVsftpd, ftpd.ProfileDOS} {
		t.Run(string(profile), func(t *testing.T) {
			s := startServer(t, func(c *ftpd.Config) { c.Profile = profile })
			testutil.WriteFile(t, filepath.Join(s.Root, enc("目录"), enc("文件.txt")), []byte("内容"))
			trace := &testutil.Buffer{}
			p := newPool(t, s, func(c *Config) { c.Encoding, c.Trace = gbk, trace })
			ctx := context.Background()
			es, err := p.ReadDir(ctx, "/目录")
			if err != nil || len(es) != 1 || es[0].Name != "文件.txt" {
				t.Fatalf("listing: %+v %v", es, err)
			}
			if es, ok, err := p.Names(ctx, "/目录"); err != nil || ok && (len(es) != 1 || es[0].Name != "文件.txt") {
				t.Fatalf("STAT listing: %+v %v %v", es, ok, err)
			}
			// Several directories at once, as the mount's prefetch asks
			// (STAT, and MLST where MLSD exists).
			p.ReadDirs(ctx, []string{"/目录", "/"}, func(i int, es []Entry, err error) {
				want := map[int]string{0: "文件.txt", 1: "目录"}[i]
				if err != nil || len(es) != 1 || es[0].Name != want {
					t.Errorf("listed together, #%d: %+v %v; want %s", i, es, err, want)
				}
			})
			if profile == ftpd.ProfileFull {
				if e, err := p.Stat(ctx, "/目录/文件.txt"); err != nil || e.Name != "/目录/文件.txt" {
					t.Fatalf("MLST: %+v %v", e, err)
				}
			}
			u, err := p.StartUpload(ctx, "/目录/新.part")
			if err != nil {
				t.Fatal(err)
			}
			u.Write(ctx, []byte("新的"))
			if _, err := u.Commit(ctx, Placement{Size: int64(len("新的")), To: "/目录/新文件"}); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(s.Root, enc("目录"), enc("新文件"))); err != nil || string(b) != "新的" {
				t.Fatalf("the upload on disk: %q %v", b, err)
			}
			if err := p.Mkdir(ctx, "/目录/子目录"); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(filepath.Join(s.Root, enc("目录"), enc("子目录"))); err != nil {
				t.Fatalf("MKD made another name: %v", err)
			}
			if err := p.Delete(ctx, "/目录/文件.txt"); err != nil {
				t.Fatal(err)
			}
			sent := len(trace.String())
			if err := p.Mkdir(ctx, "/目录/한국어"); !errors.Is(err, ClassIllegalName) {
				t.Fatalf("MKD of a name GBK lacks: %v, want ClassIllegalName", err)
			}
			if s := trace.String()[sent:]; strings.Contains(s, "> ") {
				t.Fatalf("commands sent for a name GBK lacks:\n%s", s)
			}
			if strings.Contains(trace.String(), "OPTS UTF8") {
				t.Fatalf("OPTS UTF8 sent with an encoding set:\n%s", testutil.Tail(trace.String(), 20))
			}
		})
	}
}

// TestRawNamesLoggedOnce: without an encoding, names that are not UTF-8
// pass as raw bytes, and the log says so once per pool, with a guess.
func TestRawNamesLoggedOnce(t *testing.T) {
	s := startServer(t)
	gbk := mustCharset(t, "GBK")
	for _, n := range []string{"中文文件名.txt", "会议记录.doc"} {
		b, _ := gbk.encode(n)
		testutil.WriteFile(t, filepath.Join(s.Root, "d", b), nil)
	}
	logs := &testutil.Buffer{}
	p := newPool(t, s, func(c *Config) { c.Logger = slog.New(slog.NewTextHandler(logs, nil)) })
	for range 3 {
		es, err := p.ReadDir(context.Background(), "/d")
		if err != nil || len(es) != 2 || utf8.ValidString(es[0].Name) {
			t.Fatalf("listing: %+v %v", es, err)
		}
	}
	if n := strings.Count(logs.String(), "not UTF-8"); n != 1 || !strings.Contains(logs.String(), "--encoding GBK") {
		t.Fatalf("logged %d times, want once with a guess:\n%s", n, logs)
	}
}
