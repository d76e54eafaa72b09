package conn

import (
	"crypto/tls"
	"io"
	"log/slog"
	"time"
)

// TLSMode says whether and how a connection is encrypted.
type TLSMode int

const (
	TLSNone     TLSMode = iota
	TLSExplicit         // AUTH TLS on the plain port; refused AUTH fails the dial
	TLSImplicit         // TLS from the first byte (ftps://)
)

// Config is what the pool needs to reach and log in to one server. A
// number left zero (or negative) takes its value from DefaultConfig.
type Config struct {
	Addr     string // host:port
	User     string // "anonymous" when empty
	Password string // never logged, never in an error

	TLS       TLSMode
	TLSConfig *tls.Config // ServerName, RootCAs, ...; cloned per connection

	// Timeout bounds every exchange: one command and its reply, opening a
	// data connection, each read or write of data.
	Timeout time.Duration
	// MaxConns bounds the control connections. One of them is kept for
	// metadata, so listings never wait behind long transfers.
	MaxConns int
	// IdleTimeout closes connections unused for that long; a connection
	// idle for more than CheckAfter is checked with NOOP before it is used
	// again.
	IdleTimeout, CheckAfter time.Duration
	// TrustPASVIP uses the address in a PASV reply instead of the control
	// connection's peer (needed only behind some NATs).
	TrustPASVIP bool
	// Active makes the server open each data connection to us (EPRT,
	// else PORT), for servers and firewalls where passive mode fails.
	// The connection is taken only from the control connection's peer.
	// ActiveAddr is the IP address named to the server (default: the
	// control connection's local address), for a NAT that forwards to us.
	Active     bool
	ActiveAddr string
	// ActiveBatches reads the small files fetched ahead in pipelined
	// active batches (active_batch.go) while every other transfer stays
	// passive. Until a batch has worked, the server's connection is
	// awaited briefly (batchProbe): a refused port, or a server that
	// cannot reach us (a NAT, a firewall), turns batches off for the
	// pool, and those files are read passively. Off by default: a file
	// costs ftpd 1 round trip instead of 2, vsftpd 2 instead of 3 (its
	// close lingers until our ack, a round trip in either mode), and
	// proftpd 2 either way (it answers once our side of the connection
	// is closed, which in active mode can come only after our accept);
	// behind a NAT the probe costs a second once.
	ActiveBatches bool
	// Proxy, when set, carries the control and data connections
	// (proxy.go). Active mode does not work through one.
	Proxy *Proxy
	// MaxListingEntries and MaxListingBytes bound one directory listing,
	// in lines and in bytes: beyond either, the listing fails with
	// ErrListingTooLarge, so that a server sending lines without end
	// cannot take the client's memory.
	MaxListingEntries int
	MaxListingBytes   int64
	// TelnetIAC is how a 0xFF byte of a name travels on the control
	// connection: by default (IACAuto) as the server's greeting says it
	// expects, else doubled both ways as RFC 959 says.
	TelnetIAC TelnetIAC
	// NoPipelining sends every command alone and waits for its reply
	// before the next, for a server that loses replies to commands sent
	// together. Without it, the pool turns pipelining off by itself once
	// a pipelined batch comes back out of step.
	NoPipelining bool
	// ServerZone is the zone of the server's LIST and MDTM times, and of
	// the times MFMT and "MDTM time path" send, for a server that answers
	// in its local time (vsftpd with use_localtime). nil: UTC, as RFC
	// 3659 says, until an upload shows otherwise (Pool.LearnZone).
	// MLSD's and MLST's facts are UTC whatever it says.
	ServerZone *time.Location
	// Encoding is the server's encoding of names, converted to and from
	// UTF-8 at conn's boundary (encoding.go); nil sends and reads names
	// as they are.
	Encoding *Charset

	Logger *slog.Logger
	// Trace, when set, receives the control connection dialogue, PASS
	// masked.
	Trace io.Writer

	stats *counters // the pool's (stats.go), set by NewPool
}

const (
	// DefaultMaxListingEntries fits a directory of a million entries.
	DefaultMaxListingEntries = 1 << 20
	// ListingBytesPerEntry is the byte cap of a listing per entry of its
	// entry cap: a line of MLSD facts and a long name fits in 256 bytes
	// on average, with room to spare.
	ListingBytesPerEntry = 256
)

// DefaultConfig holds the values that the zero fields of a Config stand
// for: the one place they are set. The server and the login are left
// out.
func DefaultConfig() Config {
	return Config{
		Timeout:     30 * time.Second,
		MaxConns:    4,
		IdleTimeout: 60 * time.Second,
		CheckAfter:  10 * time.Second,

		MaxListingEntries: DefaultMaxListingEntries,
		MaxListingBytes:   DefaultMaxListingEntries * ListingBytesPerEntry,
	}
}

func (c *Config) fill() {
	if c.User == "" {
		c.User = "anonymous"
		if c.Password == "" {
			c.Password = "ftpfs@"
		}
	}
	d := DefaultConfig()
	if c.Timeout <= 0 {
		c.Timeout = d.Timeout
	}
	if c.MaxConns <= 0 {
		c.MaxConns = d.MaxConns
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = d.IdleTimeout
	}
	if c.CheckAfter <= 0 {
		c.CheckAfter = d.CheckAfter
	}
	if c.MaxListingEntries <= 0 {
		c.MaxListingEntries = d.MaxListingEntries
	}
	if c.MaxListingBytes <= 0 {
		c.MaxListingBytes = d.MaxListingBytes
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// Features is what the server announced in FEAT.
type Features struct {
	MLSD, MFMT, MDTM, Size, RestStream, UTF8, EPSV, AuthTLS bool
	Raw                                                     []string
}
