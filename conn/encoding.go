package conn

// Names in a legacy charset. Servers from before RFC 2640 (IIS without
// UTF8, many appliances) send and take names in the encoding of their
// locale: GBK, Shift_JIS, windows-1251... With Config.Encoding set, conn
// converts at its boundary: every command line goes out in the server's
// encoding (PASS aside: a password's bytes are sent as given), and every
// reply line and listing line comes in as UTF-8, before anything parses
// it, so that the rest of the mount sees UTF-8 only. A name the encoding
// cannot hold fails with ErrUnencodable before a byte is sent.
//
// Only encodings that keep ASCII as it is and never put a byte below
// 0x30 inside a multibyte character qualify: then CR, LF, space, '/' and
// the verbs of the protocol mean the same before and after conversion,
// and a line can be split and parsed either way. The stateful ones
// (ISO-2022-JP, HZ) and UTF-16 do not.

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/ianaindex"
)

// ErrUnencodable is a name the server's encoding (Config.Encoding)
// cannot hold; nothing was sent.
var ErrUnencodable = errors.New("name not representable in the server's encoding")

// Charset is the encoding of a server's names on the wire. The nil
// Charset sends and reads names as they are (UTF-8, or raw bytes).
type Charset struct {
	name string
	enc  encoding.Encoding
}

// ParseCharset finds an encoding by its IANA or WHATWG name ("GBK",
// "Shift_JIS", "cp1251", "latin1"...). UTF-8 is the nil Charset.
func ParseCharset(name string) (*Charset, error) {
	// IANA first: WHATWG takes ISO-8859-1 for windows-1252.
	enc, err := ianaindex.IANA.Encoding(name)
	if enc == nil {
		enc, err = htmlindex.Get(name)
	}
	if err != nil || enc == nil {
		return nil, fmt.Errorf("unknown encoding %q", name)
	}
	// The MIME name where there is one: EUC-JP, not IANA's
	// Extended_UNIX_Code_Packed_Format_for_Japanese.
	canon, _ := ianaindex.MIME.Name(enc)
	if canon == "" {
		canon, _ = ianaindex.IANA.Name(enc)
	}
	if canon == "" {
		canon, _ = htmlindex.Name(enc)
	}
	if strings.EqualFold(canon, "UTF-8") {
		return nil, nil
	}
	cs := &Charset{name: canon, enc: enc}
	if !cs.asciiSafe() {
		return nil, fmt.Errorf("encoding %s cannot carry FTP commands (it is not ASCII-compatible)", canon)
	}
	return cs, nil
}

// asciiSafe says whether the encoding keeps ASCII as it is, starts every
// other character with a byte of 0x80 or above and never puts a space,
// '/' or control byte inside one (GB18030's four-byte characters hold
// digits).
func (cs *Charset) asciiSafe() bool {
	var ascii strings.Builder
	for b := 1; b < 0x80; b++ {
		ascii.WriteByte(byte(b))
	}
	if got, err := cs.enc.NewEncoder().String(ascii.String()); err != nil || got != ascii.String() {
		return false
	}
	if got, err := cs.enc.NewDecoder().String(ascii.String()); err != nil || got != ascii.String() {
		return false
	}
	// A stateful encoding (ISO-2022-JP, HZ) writes other characters with
	// ASCII bytes.
	for _, r := range "中文日本語한국어Жéñ" {
		b, err := cs.enc.NewEncoder().String(string(r))
		if err == nil && (b[0] < 0x80 || strings.IndexFunc(b, func(c rune) bool { return c < 0x30 }) >= 0) {
			return false
		}
	}
	return true
}

func (cs *Charset) String() string {
	if cs == nil {
		return "UTF-8"
	}
	return cs.name
}

// encode converts s from UTF-8 to the server's encoding. A character the
// encoding lacks, a byte that is not UTF-8, or U+FFFD (what decode made
// of bytes it could not read, which no conversion would give back) is
// ErrUnencodable.
func (cs *Charset) encode(s string) (string, error) {
	if cs == nil || isASCII(s) {
		return s, nil
	}
	if !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return "", ErrUnencodable
	}
	b, err := cs.enc.NewEncoder().String(s)
	if err != nil {
		return "", ErrUnencodable
	}
	return b, nil
}

// decode converts s from the server's encoding to UTF-8; bytes the
// encoding does not define become U+FFFD.
func (cs *Charset) decode(s string) string {
	if cs == nil || isASCII(s) {
		return s
	}
	d, err := cs.enc.NewDecoder().String(s)
	if err != nil {
		return strings.ToValidUTF8(s, "\uFFFD")
	}
	return d
}

// decodesExactly says whether s reads in the encoding without a byte it
// does not define, and converts back to the same bytes.
func (cs *Charset) decodesExactly(s string) (string, bool) {
	d := cs.decode(s)
	if strings.ContainsRune(d, utf8.RuneError) {
		return d, false
	}
	back, err := cs.encode(d)
	return d, err == nil && back == s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// CheckName says whether name can travel to the server: ErrUnencodable
// when the configured encoding cannot hold it.
func (p *Pool) CheckName(name string) error {
	_, err := p.cfg.Encoding.encode(name)
	return err
}

// toServer is a command line as it goes on the wire.
func (c *Conn) toServer(line string) (string, error) {
	if c.cfg.Encoding == nil || strings.HasPrefix(line, "PASS ") {
		return line, nil
	}
	return c.cfg.Encoding.encode(line)
}

// optsUTF8 says whether to send OPTS UTF8 ON: to a server that offers it,
// unless names are in another encoding, which that would switch off on
// servers that honour it (IIS, FileZilla Server).
func (c *Conn) optsUTF8() bool { return c.feat.UTF8 && c.cfg.Encoding == nil }

// listingLine converts a line of a listing read over a data connection or
// in a STAT reply; without an encoding it notes, once per pool, a line
// that is not UTF-8.
func (p *Pool) listingLine(dir, line string) string {
	if p.cfg.Encoding != nil {
		return p.cfg.Encoding.decode(line)
	}
	if !utf8.ValidString(line) {
		p.rawNamesOnce.Do(func() {
			hint := "--encoding NAME converts them; ftpfs doctor suggests one"
			if g := GuessCharset([]string{line}); len(g) > 0 {
				hint = fmt.Sprintf("--encoding %s may convert them (this line reads in it); ftpfs doctor checks a whole directory", g[0].Charset)
			}
			p.cfg.Logger.Warn("the server sends names that are not UTF-8: they are shown as raw bytes", "path", dir, "line", line, "hint", hint)
		})
	}
	return line
}

// candidates are the encodings GuessCharset tries, in the order that
// breaks ties. The same bytes often read in several: Korean in EUC-KR
// reads as Chinese in GBK, and Chinese made only of GB2312's first rows
// as Korean (GBK wins once a name has a character past them, most do),
// Russian in windows-1251 as accented Latin-1.
var candidates = []string{"EUC-KR", "GBK", "Big5", "Shift_JIS", "EUC-JP", "windows-1251", "ISO-8859-1"}

var candidateSets = sync.OnceValue(func() []*Charset {
	var out []*Charset
	for _, n := range candidates {
		if cs, err := ParseCharset(n); err == nil && cs != nil {
			out = append(out, cs)
		}
	}
	return out
})

// Guess is an encoding in which names read, and how the first of them
// reads in it.
type Guess struct {
	Charset string
	Sample  string
	score   float64
}

// GuessCharset lists the encodings in which every one of names reads,
// the likeliest first; none when some name reads in none. A candidate
// qualifies when every name decodes without an undefined byte and
// converts back to the same bytes; the likeliest is the one whose
// characters lie most in its encoding's everyday range (Japanese in
// Shift_JIS also reads in GBK, as its rare characters; GBK in Shift_JIS,
// as half-width katakana).
func GuessCharset(names []string) []Guess {
	var out []Guess
	for _, cs := range candidateSets() {
		common, all, ok := 0, 0, true
		g := Guess{Charset: cs.name}
		for i, n := range names {
			d, exact := cs.decodesExactly(n)
			if !exact {
				ok = false
				break
			}
			if i == 0 {
				g.Sample = d
			}
			rs := []rune(d)
			for j, r := range rs {
				if r >= 0x80 {
					all++
					if cs.common(rs, j) {
						common++
					}
				}
			}
		}
		if !ok {
			continue
		}
		g.score = 1
		if all > 0 {
			g.score = float64(common) / float64(all)
		}
		out = append(out, g)
	}
	slices.SortStableFunc(out, func(a, b Guess) int { return cmp.Compare(b.score, a.score) })
	return out
}

// common says whether rs[i] is in the part of the encoding that everyday
// names use: the main double-byte block of a CJK encoding (not its
// symbols, extensions or half-width katakana; for EUC-KR, Hangul), a
// letter of a single-byte one, Cyrillic for windows-1251 unless it
// touches a Latin letter (Latin-1's accents read as Cyrillic do).
func (cs *Charset) common(rs []rune, i int) bool {
	r := rs[i]
	b, err := cs.enc.NewEncoder().String(string(r))
	if err != nil {
		return false
	}
	if len(b) == 1 {
		if cs.name != "windows-1251" {
			return unicode.IsLetter(r)
		}
		latin := func(j int) bool { return j >= 0 && j < len(rs) && rs[j] < 0x80 && unicode.IsLetter(rs[j]) }
		return unicode.Is(unicode.Cyrillic, r) && !latin(i-1) && !latin(i+1)
	}
	lead, trail := b[0], b[1]
	switch cs.name {
	case "GBK":
		return lead >= 0xA1 && lead <= 0xF7 && trail >= 0xA1 // GB2312
	case "Big5":
		return lead >= 0xA4 && lead <= 0xC6 // the frequent hanzi
	case "Shift_JIS":
		return lead >= 0x81 && lead <= 0x9F || lead >= 0xE0 && lead <= 0xEA
	case "EUC-JP":
		return lead >= 0xA1 && lead <= 0xF4
	case "EUC-KR":
		return lead >= 0xB0 && lead <= 0xC8 // Hangul
	}
	return true
}
