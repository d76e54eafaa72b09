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

// Config is what the pool needs to reach and log in to one server.
type Config struct {
	Addr     string // host:port
	User     string // "anonymous" when empty
	Password string // never logged, never in an error

	TLS       TLSMode
	TLSConfig *tls.Config // ServerName, RootCAs, ...; cloned per connection

	// Timeout bounds every exchange: one command and its reply, opening a
	// data connection, each read or write of data. Default 30s.
	Timeout time.Duration
	// MaxConns bounds the control connections (default 4). One of them is
	// kept for metadata, so listings never wait behind long transfers.
	MaxConns int
	// IdleTimeout closes connections unused for that long (default 60s);
	// a connection idle for more than CheckAfter (default 10s) is checked
	// with NOOP before it is used again.
	IdleTimeout, CheckAfter time.Duration
	// TrustPASVIP uses the address in a PASV reply instead of the control
	// connection's peer (needed only behind some NATs).
	TrustPASVIP bool
	// MaxListingEntries and MaxListingBytes bound one directory listing,
	// in lines and in bytes (default 1,048,576 lines and 256 MiB): beyond
	// either, the listing fails with ErrListingTooLarge, so that a server
	// sending lines without end cannot take the client's memory.
	MaxListingEntries int
	MaxListingBytes   int64
	// TelnetIAC is how a 0xFF byte of a name travels on the control
	// connection: by default (IACAuto) as the server's greeting says it
	// expects, else doubled both ways as RFC 959 says.
	TelnetIAC TelnetIAC

	Logger *slog.Logger
	// Trace, when set, receives the control connection dialogue, PASS
	// masked.
	Trace io.Writer
}

const (
	// DefaultMaxListingEntries fits a directory of a million entries.
	DefaultMaxListingEntries = 1 << 20
	// ListingBytesPerEntry is the byte cap of a listing per entry of its
	// entry cap: a line of MLSD facts and a long name fits in 256 bytes
	// on average, with room to spare.
	ListingBytesPerEntry = 256
)

func (c *Config) fill() {
	if c.User == "" {
		c.User = "anonymous"
		if c.Password == "" {
			c.Password = "ftpfs@"
		}
	}
	if c.Timeout <= 0 {
		c.Timeout = 30 * time.Second
	}
	if c.MaxConns <= 0 {
		c.MaxConns = 4
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 60 * time.Second
	}
	if c.CheckAfter <= 0 {
		c.CheckAfter = 10 * time.Second
	}
	if c.MaxListingEntries <= 0 {
		c.MaxListingEntries = DefaultMaxListingEntries
	}
	if c.MaxListingBytes <= 0 {
		c.MaxListingBytes = DefaultMaxListingEntries * ListingBytesPerEntry
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
