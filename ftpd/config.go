package ftpd

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"
)

// Profile selects which FTP features the server offers, so that a client can
// be tested against the dialects of real servers without running them.
type Profile string

const (
	// ProfileFull offers everything: MLSD, MLST, MFMT, SIZE, MDTM, REST STREAM, AVBL.
	ProfileFull Profile = "full"
	// ProfileVsftpd mimics vsftpd: no MLSD, MLST or MFMT; LIST times to the
	// minute; modification times are set with the "MDTM time path" form.
	ProfileVsftpd Profile = "vsftpd"
	// ProfileDOS mimics IIS: no MLSD/MLST/MFMT and DOS-style LIST lines.
	ProfileDOS Profile = "dos"
)

// Config is the static configuration of a Server. The zero value of every
// field is usable; New fills in defaults.
type Config struct {
	// Root is the directory served. Every path a client names is confined to it.
	Root string
	// Listen is the address of the explicit (plain or AUTH TLS) listener.
	// Default "127.0.0.1:2121"; use "127.0.0.1:0" in tests.
	Listen string
	// ImplicitTLSListen, when set, adds a listener whose connections start
	// with a TLS handshake (ftps://). Requires TLS.
	ImplicitTLSListen string
	// TLS enables AUTH TLS, PBSZ and PROT; nil means plain FTP only.
	TLS *tls.Config
	// TLSRequired refuses USER before AUTH TLS (530) and data connections
	// before PROT P (521); PROT C is refused (534). Requires TLS. Implicit
	// TLS sessions are protected from the start.
	TLSRequired bool

	// Users maps user names to passwords. A listed name always needs its
	// password.
	Users map[string]string
	// Anonymous allows "anonymous" and "ftp" with any password, read-only.
	// New refuses it when Users lists one of those names.
	Anonymous bool
	// ReadOnly refuses every command that changes the tree, for everyone.
	ReadOnly bool
	// AllowSpecialModes lets SITE CHMOD set setuid, setgid and sticky;
	// without it only the permission bits (0777) are set.
	AllowSpecialModes bool

	// PassivePortMin and PassivePortMax bound the ports of passive data
	// listeners; 0 means any free port.
	PassivePortMin, PassivePortMax int

	// MaxSessions and MaxPerIP limit concurrent sessions (421 beyond);
	// 0 means the defaults, 256 and 64; negative means unlimited. MaxPerIP
	// counts an IPv6 client by its /64, which one host usually owns whole.
	MaxSessions, MaxPerIP int
	// MaxUnauthenticated limits the sessions not logged in yet, so that
	// they cannot fill MaxSessions: beyond it, a new connection takes the
	// place of the oldest such session of the address holding the most.
	// 0 means MaxSessions/4 (at least 1; unlimited when MaxSessions is);
	// negative means unlimited.
	MaxUnauthenticated int
	// LoginTimeout closes a session not logged in this long after it
	// connected, whatever it sends meanwhile (default 30s).
	LoginTimeout time.Duration
	// IdleTimeout closes a control connection that sends no command
	// (default 5m). DataTimeout bounds opening a data connection and any
	// single read or write on it (default 30s).
	IdleTimeout, DataTimeout time.Duration
	// LoginFailDelay is slept after each failed login (default 500ms);
	// MaxLoginFailures closes the session after that many (default 3).
	// Failures also slow down every session of the client's address (or
	// IPv6 /64): after n recent failures, the next password from there is
	// checked no sooner than LoginFailDelay * 2^(n-1) (at most 64 times
	// LoginFailDelay) after the previous one.
	LoginFailDelay   time.Duration
	MaxLoginFailures int

	// CommandLog, when set, receives one line per command received:
	// "<RFC3339 time> <session id> <VERB> <argument>", PASS masked.
	CommandLog io.Writer
	// Logger receives session events; nil discards them.
	Logger *slog.Logger

	// Profile selects the server dialect; default ProfileFull.
	Profile Profile
	// Zone, when set, is the zone of LIST's times, of MDTM's replies and
	// of the times MDTM and MFMT set, as vsftpd with use_localtime=YES
	// answers (vsftpd has no MFMT; this server reads it the same way).
	// MLSD's and MLST's facts stay UTC. nil means UTC.
	Zone *time.Location
	// Quota, when above 0, limits the bytes uploads store, all users
	// together, as proftpd's mod_quotatab limits a user's: an upload that
	// would pass it fails with 552 "Quota exceeded." once it is reached,
	// and SITE QUOTA tells the figures in mod_quotatab's form.
	Quota int64
	// Faults are the initial fault injection settings (SetFaults changes
	// them while the server runs).
	Faults Faults
}

// Faults make the server misbehave on purpose. The zero value is a
// well-behaved server. Faults apply to commands and transfers that start
// after they are set.
type Faults struct {
	// ReplyDelay holds the first reply to every command until this long
	// after the command arrived, to emulate a network round trip:
	// commands sent together are answered together.
	ReplyDelay time.Duration
	// DataRate limits every data connection to this many bytes per second.
	DataRate int64
	// DropDataAfter closes a data connection after this many bytes of a
	// RETR, STOR or APPE (426 to the client).
	DropDataAfter int64
	// CorruptStor flips the last byte each STOR or APPE wrote once it
	// completed: the size is right, the content is not.
	CorruptStor bool
	// CloseControlAfter closes a control connection, without a reply, when
	// its session receives command number CloseControlAfter+1.
	CloseControlAfter int
	// MaxSessions answers 421 to every session beyond this many.
	MaxSessions int
	// StorFullAfter answers 552 to a STOR or APPE once it has written this
	// many bytes (the bytes written stay on disk, as on a full disk).
	StorFullAfter int64
	// QuotaAfter answers 552 "Quota exceeded." the same way, as a server
	// enforcing a user's quota does.
	QuotaAfter int64
	// StallAfter stops a transfer after this many bytes without closing
	// anything, until the client gives up: the data connection and the
	// final reply just never come. Set Stall to enable it (so that 0 bytes
	// is expressible).
	Stall      bool
	StallAfter int64
	// RefuseVerb, when set, answers every command with that verb (upper
	// case; several separated by commas) with RefuseCode, without doing
	// it: 450 and 451 for passing trouble, 502 for a command a server
	// lacks ("EPSV,PASV" and 502: a server where only active mode works).
	// "SITE CPTO" names one SITE command alone.
	RefuseVerb string
	RefuseCode int
	// NoOverwrite refuses an RNTO onto an existing file (553), as some
	// servers do.
	NoOverwrite bool
	// BlindMLSDLinks lists symlinks in MLSD without their targets and
	// leaves dangling ones out, as proftpd and pure-ftpd do; LIST still
	// shows both, with their targets.
	BlindMLSDLinks bool
	// TwoAbortReplies follows the 426 of a transfer the client cut short
	// with a 226, as some servers do: a client that reads one reply is
	// then one reply behind.
	TwoAbortReplies bool
}
