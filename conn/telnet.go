package conn

import (
	"errors"
	"fmt"
	"strings"
)

// TelnetIAC says how a 0xFF byte (Telnet IAC) of a name travels on the
// control connection. RFC 959 makes the connection Telnet, so 0xFF goes
// doubled both ways; servers differ (probed):
//
//	          commands     replies
//	ftpd      undoubles    doubles
//	proftpd   undoubles    as is
//	vsftpd    as is        doubles (every reply: 257, 550, STAT)
//	pure-ftpd as is        as is
//
// A client that doubles for vsftpd or pure-ftpd creates "d\xff\xff" for
// "d\xff", and DELE or RNTO of an existing name reach another one.
type TelnetIAC int

const (
	// IACAuto decides per connection from the server's greeting: the
	// default banners of vsftpd, pure-ftpd and proftpd get their own
	// rules, any other server IACDouble.
	IACAuto TelnetIAC = iota
	// IACDouble doubles 0xFF in commands and undoubles IAC IAC in
	// replies, as RFC 959 says.
	IACDouble
	// IACRaw sends and reads 0xFF as it is.
	IACRaw
)

var iacNames = [...]string{IACAuto: "auto", IACDouble: "double", IACRaw: "raw"}

func (m TelnetIAC) String() string {
	if m >= 0 && int(m) < len(iacNames) {
		return iacNames[m]
	}
	return fmt.Sprintf("TelnetIAC(%d)", int(m))
}

// ParseTelnetIAC reads "auto", "double" or "raw".
func ParseTelnetIAC(s string) (TelnetIAC, error) {
	for m, name := range iacNames {
		if s == name {
			return TelnetIAC(m), nil
		}
	}
	return 0, errors.New("want auto, double or raw")
}

// iacRule is what one connection does with 0xFF, each way.
type iacRule struct {
	doubleCommands, undoubleReplies bool
	why                             string // for the log, in auto mode
}

// iacFor decides the rule of a connection from the configured mode and
// the text of the server's 220 greeting. Only the product names of the
// default banners are matched ("220 (vsFTPd 3.0.3)", "220---------- Welcome
// to Pure-FTPd [privsep] [TLS] ----------", "220 ProFTPD Server (...)"): a
// server whose banner was changed gets RFC 959, or the mode forced.
func iacFor(mode TelnetIAC, greeting string) iacRule {
	switch mode {
	case IACDouble:
		return iacRule{doubleCommands: true, undoubleReplies: true}
	case IACRaw:
		return iacRule{}
	}
	switch {
	case strings.Contains(greeting, "vsFTPd"):
		return iacRule{undoubleReplies: true, why: "the greeting names vsFTPd, which takes 0xFF in commands as is and doubles it in replies"}
	case strings.Contains(greeting, "Pure-FTPd"):
		return iacRule{why: "the greeting names Pure-FTPd, which takes and sends 0xFF as is"}
	case strings.Contains(greeting, "ProFTPD"):
		return iacRule{doubleCommands: true, why: "the greeting names ProFTPD, which undoubles 0xFF in commands and sends it as is in replies"}
	}
	return iacRule{doubleCommands: true, undoubleReplies: true, why: "RFC 959: the greeting names no server known to differ"}
}

// mode is the rule's name for the log.
func (r iacRule) mode() string {
	switch {
	case r.doubleCommands && r.undoubleReplies:
		return "double"
	case r.doubleCommands:
		return "double commands, raw replies"
	case r.undoubleReplies:
		return "raw commands, undouble replies"
	}
	return "raw"
}
