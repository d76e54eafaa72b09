package link

import (
	"bytes"
	"fmt"
	"net"
	"strconv"
)

// The control connection's two streams, read line by line as they pass:
// commands (counted, some answered by the link itself) and replies
// (passive ones rewritten). Bytes that cannot matter pass on as soon as
// they are read; a line is held only while it may still need changing,
// and never beyond maxHeld bytes.

const (
	maxHeld = 4096
	headLen = 16 // enough of a line for its verb after telnet IAC bytes
)

// refusals are the commands the link answers in the server's place, so
// that every data connection goes through it (see the package doc).
var refusals = map[string]string{
	"AUTH": "534 TLS is not available through the link emulator.\r\n",
}

// activeVerbs announce a client's port; the link names its own listener
// instead. transferVerbs open the data connection prepared last.
var (
	activeVerbs   = map[string]bool{"PORT": true, "EPRT": true}
	transferVerbs = map[string]bool{"RETR": true, "STOR": true, "STOU": true, "APPE": true, "LIST": true, "NLST": true, "MLSD": true}
)

// piece is part of what a client sent: bytes for the server, or a reply
// the link gives in the server's place, due after the server's final
// reply number after (the greeting is the first). An active piece is a
// whole PORT or EPRT line, to rewrite; a hold piece follows a transfer
// command that uses one, whose final reply is number after, and holds
// back what follows it (see the package doc).
type piece struct {
	data, reply  []byte
	after        int
	active, hold bool
}

// commandScanner follows what a client sends on a control connection.
type commandScanner struct {
	count   func(verb string)
	n       int    // bytes of the current line seen
	head    []byte // its first headLen bytes
	held    []byte // the current line, while it may be a refused or rewritten command
	holding bool
	sent    int  // commands passed to the server
	armed   bool // a PORT or EPRT awaits its transfer command
}

func (s *commandScanner) feed(p []byte) []piece {
	var out []piece
	var pass []byte
	for _, b := range p {
		if s.n == 0 {
			s.holding = true
		}
		s.n++
		if len(s.head) < headLen {
			s.head = append(s.head, b)
		}
		if s.holding {
			s.held = append(s.held, b)
			if b != '\n' && (!mayBeHeld(s.head) || len(s.held) > maxHeld) {
				pass = append(pass, s.held...)
				s.held, s.holding = s.held[:0], false
			}
		} else {
			pass = append(pass, b)
		}
		if b != '\n' {
			continue
		}
		verb := verbOf(s.head)
		if verb != "" {
			s.count(verb)
		}
		if s.holding {
			if r, ok := refusals[verb]; ok {
				out, pass = cut(out, pass, piece{reply: []byte(r), after: s.sent + 1})
				verb = ""
			} else if activeVerbs[verb] {
				out, pass = cut(out, pass, piece{data: bytes.Clone(s.held), active: true})
				s.armed = true
			} else {
				pass = append(pass, s.held...)
			}
			s.held, s.holding = s.held[:0], false
		}
		if verb != "" {
			s.sent++
		}
		switch {
		case verb == "PASV" || verb == "EPSV":
			s.armed = false // the server drops the active address
		case transferVerbs[verb] && s.armed:
			s.armed = false
			out, pass = cut(out, pass, piece{hold: true, after: s.sent + 1})
		}
		s.head, s.n = s.head[:0], 0
	}
	if len(pass) > 0 {
		out = append(out, piece{data: pass})
	}
	return out
}

// cut appends the bytes passed so far, then pc, to out.
func cut(out []piece, pass []byte, pc piece) ([]piece, []byte) {
	if len(pass) > 0 {
		out = append(out, piece{data: pass})
	}
	return append(out, pc), nil
}

// flush returns a line the client left unfinished when its stream ended.
func (s *commandScanner) flush() []byte {
	b := bytes.Clone(s.held)
	s.held, s.holding = s.held[:0], false
	return b
}

// command returns the line's first bytes without telnet bytes (IAC IP
// IAC DM before an ABOR) or other non-letters before the verb.
func command(head []byte) []byte {
	i := 0
	for i < len(head) && !isLetter(head[i]) {
		i++
	}
	return head[i:]
}

func isLetter(b byte) bool { return 'a' <= b|0x20 && b|0x20 <= 'z' }

// verbOf returns the verb of a line, upper case, or "".
func verbOf(head []byte) string {
	c := command(head)
	i := 0
	for i < len(c) && isLetter(c[i]) {
		i++
	}
	return string(bytes.ToUpper(c[:i]))
}

// heldVerbs are the commands whose lines are held whole: refused or
// rewritten.
var heldVerbs = []string{"AUTH", "PORT", "EPRT"}

// mayBeHeld reports whether a line starting with head may still turn out
// to be a refused or rewritten command.
func mayBeHeld(head []byte) bool {
	c := bytes.ToUpper(command(head))
	for _, v := range heldVerbs {
		if len(c) <= len(v) && v[:len(c)] == string(c) {
			return true
		}
		if len(c) > len(v) && string(c[:len(v)]) == v && !isLetter(c[len(v)]) {
			return true
		}
	}
	return false
}

// passiveFunc opens a listener of the link for a data connection to the
// server's port and returns the address to announce instead; v4 asks for
// an IPv4 address (a 227 cannot carry another).
type passiveFunc func(v4 bool, serverPort int) (net.IP, int, error)

// replyRewriter follows what a server sends on a control connection and
// rewrites its passive replies.
type replyRewriter struct {
	passive passiveFunc
	// final, if set, is called at the end of every final (2xx to 5xx)
	// reply, and returns what the link answers in the server's place
	// right after it.
	final func() []byte
	// prelim, if set, is called at the end of every 1xx reply.
	prelim  func()
	n       int
	head    []byte // the current line's first 4 bytes
	held    []byte // the current line, while it may be part of a passive reply
	holding bool
	// multi is the code of the multi-line reply being read, "" between
	// replies; rewritten says the current reply's address was rewritten.
	multi     string
	rewritten bool
	// ended is the code of the last reply that ended, set before final
	// and prelim run.
	ended string
}

func (w *replyRewriter) feed(p []byte) []byte {
	var out []byte
	for _, b := range p {
		if w.n == 0 {
			// Between replies, any line may start a passive one; inside a
			// multi-line reply, only a passive reply's lines matter.
			w.holding = w.multi == "" || isPassive(w.multi)
		}
		w.n++
		if len(w.head) < 4 {
			w.head = append(w.head, b)
		}
		if w.holding {
			w.held = append(w.held, b)
			if b != '\n' && ((w.multi == "" && !mayBePassive(w.head)) || len(w.held) > maxHeld) {
				out = append(out, w.held...)
				w.held, w.holding = w.held[:0], false
			}
		} else {
			out = append(out, b)
		}
		if b == '\n' {
			out = append(out, w.endLine()...)
		}
	}
	return out
}

// endLine returns the held line, rewritten if it is part of a passive
// reply, and follows the multi-line state.
func (w *replyRewriter) endLine() []byte {
	code := w.multi
	if code == "" {
		code = replyCode(w.head)
	}
	var line []byte
	if w.holding {
		line = w.held
		if isPassive(code) && !w.rewritten {
			line, w.rewritten = w.rewrite(line, code)
		}
		line = bytes.Clone(line)
		w.held, w.holding = w.held[:0], false
	}
	ended := false
	switch {
	case w.multi == "" && code != "" && w.head[3] == '-':
		w.multi = code
	case w.multi == "" && code != "":
		ended = true
	case w.multi != "" && len(w.head) == 4 && string(w.head[:3]) == w.multi && !isDigitOrDash(w.head[3]):
		w.multi, ended = "", true
	}
	if w.multi == "" {
		w.rewritten = false
	}
	w.head, w.n = w.head[:0], 0
	if ended {
		w.ended = code
	}
	if ended && code[0] >= '2' && code[0] <= '5' && w.final != nil {
		line = append(line, w.final()...)
	}
	if ended && code[0] == '1' && w.prelim != nil {
		w.prelim()
	}
	return line
}

func (w *replyRewriter) flush() []byte {
	b := bytes.Clone(w.held)
	w.held, w.holding = w.held[:0], false
	return b
}

func isPassive(code string) bool { return code == "227" || code == "229" }

func isDigit(b byte) bool { return '0' <= b && b <= '9' }

func isDigitOrDash(b byte) bool { return isDigit(b) || b == '-' }

// replyCode returns the code a reply's first line starts with, or "".
func replyCode(head []byte) string {
	if len(head) < 4 || !isDigit(head[0]) || !isDigit(head[1]) || !isDigit(head[2]) || isDigit(head[3]) {
		return ""
	}
	return string(head[:3])
}

// mayBePassive reports whether a reply's first line starting with head
// may be a 227 or 229.
func mayBePassive(head []byte) bool {
	h := string(head[:min(len(head), 3)])
	return h == "227"[:len(h)] || h == "229"[:len(h)]
}

// rewrite puts the link's address in a line of a passive reply, if the
// line carries one, and says whether it did.
func (w *replyRewriter) rewrite(line []byte, code string) ([]byte, bool) {
	start := 0
	if len(line) >= 4 && string(line[:3]) == code {
		start = 4 // the code's digits are no address
	}
	var at, end, port int
	var ok bool
	if code == "227" {
		at, end, port, ok = findPASV(line, start)
	} else {
		at, end, port, ok = findEPSV(line, start)
	}
	if !ok {
		return line, false
	}
	ip, p, err := w.passive(code == "227", port)
	if err != nil {
		msg := fmt.Sprintf("%sThe link emulator cannot relay this data connection: %v\r\n", line[:start], err)
		return []byte(msg), true
	}
	var addr string
	if code == "227" {
		v4 := ip.To4()
		addr = fmt.Sprintf("%d,%d,%d,%d,%d,%d", v4[0], v4[1], v4[2], v4[3], p>>8, p&0xff)
	} else {
		addr = strconv.Itoa(p)
	}
	out := append(bytes.Clone(line[:at]), addr...)
	return append(out, line[end:]...), true
}

// findPASV finds "h1,h2,h3,h4,p1,p2" in a 227 line from start, scanning
// for the first digits as RFC 1123 4.1.2.6 advises, and returns where
// the numbers start and end and the port.
func findPASV(line []byte, start int) (at, end, port int, ok bool) {
	for i := start; i < len(line); i++ {
		if !isDigit(line[i]) || (i > start && isDigit(line[i-1])) {
			continue
		}
		j, n := i, 0
		var v [6]int
		for ; n < 6; n++ {
			k := j
			for k < len(line) && isDigit(line[k]) && k-j < 3 {
				v[n] = v[n]*10 + int(line[k]-'0')
				k++
			}
			if k == j || v[n] > 255 || (k < len(line) && isDigit(line[k])) {
				break
			}
			j = k
			if n < 5 {
				if j >= len(line) || line[j] != ',' {
					break
				}
				j++
			}
		}
		if n == 6 {
			return i, j, v[4]<<8 | v[5], true
		}
	}
	return 0, 0, 0, false
}

// findEPSV finds "(<d><d><d>port<d>)" in a 229 line (RFC 2428, any
// delimiter from 33 to 126) and returns where the port's digits start
// and end and the port.
func findEPSV(line []byte, start int) (at, end, port int, ok bool) {
	for i := start; i+5 < len(line); i++ {
		d := line[i+1]
		if line[i] != '(' || d < 33 || d > 126 || isDigit(d) || line[i+2] != d || line[i+3] != d {
			continue
		}
		j := i + 4
		for j < len(line) && isDigit(line[j]) && j-i-4 < 5 {
			port = port*10 + int(line[j]-'0')
			j++
		}
		if j == i+4 || port < 1 || port > 65535 || j+1 >= len(line) || line[j] != d || line[j+1] != ')' {
			port = 0
			continue
		}
		return i + 4, j, port, true
	}
	return 0, 0, 0, false
}
