package ftpd

import (
	"crypto/subtle"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// command describes one verb: its handler and the checks made before it runs.
type command struct {
	fn      func(s *session, arg string)
	login   bool // refused with 530 before login
	write   bool // refused with 550 on a read-only session
	needArg bool // refused with 501 without an argument
	full    bool // only in ProfileFull (the extensions vsftpd and IIS lack)
	data    bool // prepares a data connection: refused before PROT P when TLS is required
}

// commandTable lists every verb the server knows, with its aliases.
func commandTable(p Profile) map[string]command {
	t := map[string]command{
		"USER": {fn: (*session).cmdUSER, needArg: true},
		"PASS": {fn: (*session).cmdPASS},
		"QUIT": {fn: (*session).cmdQUIT},
		"NOOP": {fn: func(s *session, _ string) { s.reply(200, "NOOP ok.") }},
		"SYST": {fn: func(s *session, _ string) { s.reply(215, "UNIX Type: L8") }},
		"FEAT": {fn: (*session).cmdFEAT},
		"OPTS": {fn: (*session).cmdOPTS, needArg: true},
		"HELP": {fn: (*session).cmdHELP},
		"STAT": {fn: (*session).cmdSTAT},
		"TYPE": {fn: (*session).cmdTYPE, needArg: true, login: true},
		"MODE": {fn: (*session).cmdMODE, needArg: true, login: true},
		"STRU": {fn: (*session).cmdSTRU, needArg: true, login: true},
		"PWD":  {fn: (*session).cmdPWD, login: true},
		"CWD":  {fn: (*session).cmdCWD, login: true},
		"CDUP": {fn: (*session).cmdCDUP, login: true},
		"PASV": {fn: (*session).cmdPASV, login: true, data: true},
		"EPSV": {fn: (*session).cmdEPSV, login: true, data: true},
		"PORT": {fn: (*session).cmdPORT, login: true, needArg: true, data: true},
		"EPRT": {fn: (*session).cmdEPRT, login: true, needArg: true, data: true},
		"LIST": {fn: (*session).cmdLIST, login: true},
		"NLST": {fn: (*session).cmdNLST, login: true},
		"MLSD": {fn: (*session).cmdMLSD, login: true, full: true},
		"MLST": {fn: (*session).cmdMLST, login: true, full: true},
		"RETR": {fn: (*session).cmdRETR, login: true, needArg: true},
		"STOR": {fn: (*session).cmdSTOR, login: true, needArg: true, write: true},
		"STOU": {fn: (*session).cmdSTOU, login: true, write: true},
		"APPE": {fn: (*session).cmdAPPE, login: true, needArg: true, write: true},
		"REST": {fn: (*session).cmdREST, login: true, needArg: true},
		"SIZE": {fn: (*session).cmdSIZE, login: true, needArg: true},
		"HASH": {fn: (*session).cmdHASH, login: true, needArg: true, full: true},
		"AVBL": {fn: (*session).cmdAVBL, login: true, full: true},
		"MDTM": {fn: (*session).cmdMDTM, login: true, needArg: true},
		"MFMT": {fn: (*session).cmdMFMT, login: true, needArg: true, write: true, full: true},
		"DELE": {fn: (*session).cmdDELE, login: true, needArg: true, write: true},
		"RMD":  {fn: (*session).cmdRMD, login: true, needArg: true, write: true},
		"MKD":  {fn: (*session).cmdMKD, login: true, needArg: true, write: true},
		"RNFR": {fn: (*session).cmdRNFR, login: true, needArg: true, write: true},
		"RNTO": {fn: (*session).cmdRNTO, login: true, needArg: true, write: true},
		"ABOR": {fn: (*session).cmdABOR, login: true},
		"SITE": {fn: (*session).cmdSITE, login: true, needArg: true},
		"AUTH": {fn: (*session).cmdAUTH, needArg: true},
		"PBSZ": {fn: (*session).cmdPBSZ, needArg: true},
		"PROT": {fn: (*session).cmdPROT, needArg: true},
	}
	// The X forms of RFC 775, still sent by some clients.
	for alias, verb := range map[string]string{"XPWD": "PWD", "XCWD": "CWD", "XCUP": "CDUP", "XRMD": "RMD", "XMKD": "MKD"} {
		t[alias] = t[verb]
	}
	if p != ProfileFull {
		for verb, c := range t {
			if c.full {
				delete(t, verb)
			}
		}
	}
	return t
}

func (s *session) commands() map[string]command { return s.srv.cmds }

// unimplemented are verbs of the FTP RFCs (959, 2228, 2640, 7151) and
// common extensions that the server does not implement. Clients send some
// before login (HOST, LANG, CLNT): they get 502, not the junk count of an
// unknown verb, and share the "other" counter.
var unimplemented = map[string]bool{
	"ACCT": true, "ALLO": true, "REIN": true, "SMNT": true, // RFC 959
	"ADAT": true, "CCC": true, "CONF": true, "ENC": true, "MIC": true, // RFC 2228
	"LANG": true, // RFC 2640
	"HOST": true, // RFC 7151
	"CLNT": true, "XCRC": true, "XMD5": true, "XSHA1": true,
}

// anonymousNames are the login names of anonymous FTP (RFC 1635).
var anonymousNames = []string{"anonymous", "ftp"}

func (s *session) cmdUSER(arg string) {
	if s.srv.cfg.TLSRequired && !s.tlsOn {
		// Refused before a password is sent in clear (RFC 4217 section 11).
		s.reply(530, "TLS required: send AUTH TLS first.")
		return
	}
	s.user, s.loggedIn, s.readOnly = arg, false, false
	s.reply(331, "Please specify the password.")
}

func (s *session) cmdPASS(arg string) {
	if s.user == "" {
		s.reply(503, "Login with USER first.")
		return
	}
	if s.loggedIn {
		s.reply(230, "Already logged in.")
		return
	}
	cfg := &s.srv.cfg
	want, known := cfg.Users[s.user]
	// A listed name always needs its password, even one that is also an
	// anonymous name (New refuses that configuration anyway).
	if cfg.Anonymous && !known && slices.Contains(anonymousNames, s.user) {
		s.login(true)
		return
	}
	s.checking.Store(true)
	defer s.checking.Store(false)
	th := s.srv.throttle
	now := time.Now()
	at, reserved, ok := th.reserve(s.key, now, s.loginDeadline())
	if !ok {
		s.srv.log.Info("login refused: too many recent failures from the address", "session", s.id, "addr", s.key)
		s.reply(421, "Too many failed logins from your address; try again later.")
		s.quitting = true
		return
	}
	if at.After(now) {
		s.srv.log.Debug("password check delayed", "session", s.id, "addr", s.key, "delay", at.Sub(now))
		if sleepCtx(s.ctx, time.Until(at)) != nil {
			return
		}
	}
	// Compare in constant time, and compare something even for unknown
	// users, so that timing does not tell which names exist.
	ok = subtle.ConstantTimeCompare([]byte(arg), []byte(want)) == 1 && known
	th.result(s.key, reserved, ok, time.Now())
	if ok {
		s.login(false)
		return
	}
	s.failures++
	s.srv.log.Info("login failed", "session", s.id, "user", s.user)
	sleepCtx(s.ctx, cfg.LoginFailDelay)
	if s.failures >= cfg.MaxLoginFailures {
		s.reply(421, "Too many failed logins.")
		s.quitting = true
		return
	}
	s.reply(530, "Login incorrect.")
}

// login ends a successful PASS.
func (s *session) login(anonymous bool) {
	s.loggedIn, s.readOnly, s.cwd = true, s.srv.cfg.ReadOnly || anonymous, "/"
	s.srv.loggedIn(s)
	s.reply(230, "Login successful.")
}

func (s *session) cmdQUIT(string) {
	s.reply(221, "Goodbye.")
	s.quitting = true
}

func (s *session) features() []string {
	f := []string{"EPRT", "EPSV", "MDTM", "PASV", "REST STREAM", "SIZE", "TVFS", "UTF8"}
	if s.srv.cfg.Profile == ProfileFull {
		f = append(f, "AVBL", "MFMT", "MLST "+s.mlstFactList(true), s.hashFeature(), "SITE COPY")
	}
	if s.srv.cfg.TLS != nil {
		f = append(f, "AUTH TLS", "PBSZ", "PROT")
	}
	sort.Strings(f)
	return f
}

func (s *session) cmdFEAT(string) {
	s.replyLines(211, "Features:", s.features(), "End")
}

func (s *session) cmdOPTS(arg string) {
	name, val, _ := strings.Cut(arg, " ")
	switch strings.ToUpper(name) {
	case "UTF8":
		if v := strings.ToUpper(strings.TrimSpace(val)); v == "ON" || v == "" {
			s.reply(200, "Always in UTF8 mode.")
		} else {
			s.reply(504, "UTF8 cannot be turned off.")
		}
	case "HASH":
		s.optsHash(val)
	case "MLST":
		if s.srv.cfg.Profile != ProfileFull {
			s.reply(501, "MLST not supported.")
			return
		}
		facts := map[string]bool{}
		for _, f := range strings.Split(val, ";") {
			for _, known := range factNames {
				if strings.EqualFold(f, known) {
					facts[known] = true
				}
			}
		}
		s.mlstFacts = facts
		s.reply(200, "MLST OPTS "+s.mlstFactList(false))
	default:
		s.reply(501, "Option not understood.")
	}
}

func (s *session) cmdHELP(string) {
	verbs := make([]string, 0, len(s.commands()))
	for v := range s.commands() {
		verbs = append(verbs, v)
	}
	sort.Strings(verbs)
	var body []string
	for i := 0; i < len(verbs); i += 8 {
		body = append(body, strings.Join(verbs[i:min(i+8, len(verbs))], " "))
	}
	s.replyLines(214, "The following commands are recognized.", body, "Help OK.")
}

func (s *session) cmdSTAT(arg string) {
	if arg == "" {
		typ := "BINARY"
		if !s.binary {
			typ = "ASCII"
		}
		body := []string{
			"Connected to " + s.raw.RemoteAddr().String(),
			"Logged in as " + s.user,
			"TYPE: " + typ,
			fmt.Sprintf("Session commands: %d", s.ncmds),
		}
		s.replyLines(211, "FTP server status:", body, "End of status")
		return
	}
	if !s.loggedIn {
		s.reply(530, "Please login with USER and PASS.")
		return
	}
	lines, err := s.listLines(arg)
	if err != nil {
		s.replyErr(err, arg)
		return
	}
	s.replyLines(213, "Status follows:", lines, "End of status")
}

func (s *session) cmdTYPE(arg string) {
	switch strings.ToUpper(strings.Join(strings.Fields(arg), " ")) {
	case "I", "L 8":
		s.binary = true
		s.reply(200, "Switching to Binary mode.")
	case "A", "A N":
		// ASCII mode is accepted; files travel unchanged, as with vsftpd's
		// default, and listings use CRLF either way.
		s.binary = false
		s.reply(200, "Switching to ASCII mode.")
	default:
		s.reply(504, "Unsupported TYPE.")
	}
}

func (s *session) cmdMODE(arg string) {
	if strings.EqualFold(arg, "S") {
		s.reply(200, "Mode set to S.")
		return
	}
	s.reply(504, "Only stream mode is supported.")
}

func (s *session) cmdSTRU(arg string) {
	if strings.EqualFold(arg, "F") {
		s.reply(200, "Structure set to F.")
		return
	}
	s.reply(504, "Only file structure is supported.")
}

func (s *session) cmdAUTH(arg string) {
	switch {
	case s.srv.cfg.TLS == nil:
		s.reply(502, "TLS is not configured.")
		return
	case s.tlsOn:
		s.reply(503, "TLS is already active.")
		return
	}
	switch strings.ToUpper(arg) {
	case "TLS", "TLS-C", "SSL":
	default:
		s.reply(504, "Unknown AUTH type.")
		return
	}
	s.reply(234, "Proceed with negotiation.")
	if err := s.startTLS(); err != nil {
		s.srv.log.Debug("AUTH TLS handshake", "session", s.id, "err", err)
		s.quitting = true
		return
	}
	// RFC 4217 section 4: a successful AUTH resets the login state.
	s.user, s.loggedIn, s.readOnly = "", false, false
}

func (s *session) cmdPBSZ(arg string) {
	if !s.tlsOn {
		s.reply(503, "PBSZ needs a secure control connection.")
		return
	}
	s.pbsz = true
	s.reply(200, "PBSZ=0")
}

func (s *session) cmdPROT(arg string) {
	if !s.tlsOn {
		s.reply(503, "PROT needs a secure control connection.")
		return
	}
	switch strings.ToUpper(arg) {
	case "P":
		s.protP = true
		s.reply(200, "PROT now Private.")
	case "C":
		if s.srv.cfg.TLSRequired {
			s.reply(534, "PROT P required.")
			return
		}
		s.protP = false
		s.reply(200, "PROT now Clear.")
	case "S", "E":
		s.reply(536, "PROT level not supported.")
	default:
		s.reply(504, "Unknown PROT level.")
	}
}
