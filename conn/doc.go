// Package conn speaks FTP to one server for the mount: a bounded pool of
// logged-in control connections, the data connections of transfers,
// retries, timeouts, feature detection, the server quirks, error classes
// and the parsers of directory listings. It answers in filesystem terms
// (a directory's entries, a file put in place, an error of a class) so
// that its callers never look at a reply code or a command. It imports
// nothing of FUSE, so all of it is tested against the ftpd package over
// loopback.
//
// # Why not jlaffaye/ftp here
//
// The tests use jlaffaye/ftp as an independent client of ftpd, but the pool
// speaks the protocol itself, in a few hundred lines, because the mount
// needs what that library does not offer: a deadline on every exchange
// (its commands wait forever), the raw lines of a listing (its List drops
// lines it cannot parse and loses symlink and mode facts), a defined state
// after an aborted RETR (it reads one reply where servers may send two),
// and a TLS session cache per connection.
//
// # Connections
//
// A Conn carries one exchange at a time and is owned by one caller between
// Pool.get and Pool.put. Any failure in the middle of an exchange marks it
// broken: its replies could no longer be matched to its commands, so it is
// closed, never reused. An aborted transfer is followed by a NOOP, and
// every reply before its 200 is drained (426 then 226, from some servers);
// a connection that does not get there in time is broken. At most
// Config.MaxConns connections exist; while more than one is allowed,
// transfers may hold all but one, so that a listing or a stat never
// queues behind long reads. A short read (Pool.ReadAt: a block, a small
// file) may take that one too while no metadata caller waits: it gives
// it back within a round trip or two; a segmented read borrows it the
// same way, and gives it back on its next bytes once somebody waits (an
// abort's two round trips). A read that takes the last idle
// connection has a spare dialled beside it, which logs in and opens its
// first data connection (REST 0 and EPSV) before it is idle; Pool.Warm
// dials every connection still missing that way, before any read, when
// the caller expects transfers over all of them. A caller that finds
// none idle while another connection finishes an abort, or opens its
// next data connection, waits for it rather than pay a login. A 421 "too many connections" at login lowers
// the ceiling to what the server accepts instead of failing the caller,
// and one more connection is tried again after a minute. A connection
// idle for Config.CheckAfter is checked with NOOP before it is used, and
// closed after Config.IdleTimeout.
//
// Round trips: once EPSV (and REST) worked on a connection, a transfer
// sends EPSV, REST and its command together; a download closes its side
// of the data connection once its command is out (vsftpd and proftpd send
// the final reply only after the client closed its side); a download or
// a listing over a data connection carries the EPSV of the next transfer
// behind its command, and the connection connects to that port once its
// caller has the bytes, before it is idle again; an upload over
// a plain data connection does not wait for the 150 before sending bytes;
// a commit sends SIZE with the end of the data (twice to a server that
// answers one command during a transfer, proftpd: one of the two is
// answered after the final reply, the only kind trusted), and opens the
// next transfer's data connection while the rename travels, so that the
// next upload on the connection costs two round trips (Upload.Commit).
// A connection connecting to the port of its next transfer after a
// short read has a round trip to spare (the server accepts that data
// connection only half a round trip after the connect's round trip):
// it lends its control connection for one exchange to a metadata
// caller working ahead (Riding: a listing prefetched, its exact times),
// which waits up to three round trips for such a ride while small reads
// keep the connections busy, instead of taking one from them
// (pool_ride.go).
// Later connections log in with USER, PASS, TYPE and OPTS in one flight,
// a spare with REST 0 and EPSV behind. A server that refuses a pipelined
// EPSV costs that connection, and the transfer starts again on another,
// which asks EPSV alone (PASV where the server lacks EPSV) before
// trusting it in a pipeline; once it worked, the next transfer's EPSV
// goes behind the command. The address in a PASV reply is ignored (the
// control connection's peer is used) unless Config.TrustPASVIP.
//
// In active mode (Config.Active, active.go) the server connects to a
// port we name with EPRT (PORT where EPRT is unknown), and only a
// connection from the control connection's peer is taken; nothing is
// opened ahead there. Once a port was taken on a connection, a download
// or a listing sends EPRT, REST and its command together, behind a port
// opened before. Pool.ReadFiles reads a batch of small files on one
// connection, every file's EPRT and RETR sent together, a round trip per
// file (active_batch.go).
// Through a proxy (Config.Proxy, proxy.go: SOCKS5 or HTTP CONNECT) every
// connection is dialled, control and data alike, and passive data
// connections go to the server's name, which the proxy resolves.
//
// # Time
//
// Every exchange (a command and its reply, opening a data connection, each
// read or write of data) ends by Config.Timeout or by the caller's context,
// whichever comes first. The exchanges that read (MLSD and LIST, MDTM,
// MLST, SIZE, REST+RETR, opening a stream) and the changes that can be
// repeated (SITE CHMOD, setting a time) are made up to four times in all,
// 50, 200 and 800 ms apart, while the caller's context allows, each on
// a connection from the pool: after a broken connection, or a reply that
// says to try again (421, 425, 426, 450, 451: ClassUnavailable); never
// after a timeout, since the caller has waited once already, nor after
// any other class. The other changes (STOR, rename, DELE, MKD, RMD) are
// made once: after a connection broke in the middle nobody knows whether
// they happened, and only the caller can check and decide.
//
// # Server quirks
//
// conn owns what differs between servers, so that the mount asks in
// filesystem terms:
//
//   - Pool.ReadDir returns a directory whole: MLSD where FEAT offers it,
//     LIST -a otherwise. An MLSD listing with symlinks and no targets
//     (proftpd, pure-ftpd), which may also leave dangling links out, is
//     completed from a LIST of the same directory. Lines no parser
//     recognizes and names that cannot be path components are left out
//     and counted in the log, never guessed at; a listing over
//     Config.MaxListingEntries lines or Config.MaxListingBytes bytes fails
//     (ClassTooLarge). LIST times are read in the server's zone
//     (timezone.go): UTC unless given or learnt from an upload.
//     Pool.ReadDirKnown gives the same where the caller knows the
//     directory from before: on servers with MLSD it lists with STAT,
//     keeps the known facts of the entries whose LIST lines did not
//     change, and asks MLST for the others (listing_relist.go).
//   - Pool.RenameOver renames as rename(2) does: a server that refuses to
//     rename over an existing file (its reply says the target exists) gets
//     a DELE of the target and the rename again, and the caller learns
//     whether the target was removed; a directory replaces only an empty
//     one (RMD, then the rename).
//   - Upload.Commit reads the transfer's final reply before sending
//     anything (proftpd answers commands sent during a transfer before its
//     226), then checks with SIZE, where the server has it, that it holds
//     as many bytes as were sent, and with the server's digest, where it
//     tells one, that they are the bytes sent (hash.go: HASH of
//     draft-bryan-ftpext-hash, else XSHA256, XSHA512, XSHA1, XMD5 or
//     XCRC; ErrHashMismatch), sets a mode with SITE CHMOD if asked, and
//     renames the upload into place, with the same DELE fallback. The
//     digest travels with SIZE where the order of the replies allows
//     (ftpd, proftpd once learnt), else in a round trip of its own. The
//     file's time is asked behind the rename (MLST where listings are
//     MLSD, else MDTM; Placed.ModTime) where commands are pipelined.
//   - Upload.SendFrom, Resume and CommitFrom go on with an upload whose
//     data connection dropped, on the same name, from the server's SIZE:
//     REST and STOR, else APPE, else STOR from byte 0 at most twice
//     (proftpd refuses both by default); three attempts in a row that
//     move the server's copy no further end it (resume.go). Pool.CheckSum
//     compares a download's digest with the server's.
//   - Pool.Stat asks MLST, and says ClassUnsupported without a command on
//     a server without MLSD; Pool.SetTime uses MFMT, else the "MDTM time
//     path" form (vsftpd), and says ErrNoSetTime when neither exists.
//   - A server that gives local time in LIST and MDTM (vsftpd with
//     use_localtime) has its times read and set in its zone: the one
//     given (Config.ServerZone), else the offset learnt from a file just
//     uploaded (its commit's MDTM, or Pool.LearnZone's); MLSD's facts
//     stay UTC.
//   - Pool.Available asks AVBL where FEAT offers it, at most once per
//     SpaceTTL, and says it does not know elsewhere; Pool.Quota reads the
//     upload quota of SITE QUOTA (mod_quotatab) likewise, and a server
//     that refuses it is not asked again; Pool.Space gives both together.
//   - A 0xFF byte of a name (Telnet IAC) is doubled or not as the
//     server's greeting says it expects (Config.TelnetIAC).
//   - Names in a legacy charset (Config.Encoding, encoding.go) are
//     converted at this boundary: command lines go out in the server's
//     encoding, reply and listing lines come in as UTF-8 before they are
//     parsed; a name the encoding lacks is ErrUnencodable
//     (ClassIllegalName) before anything is sent. Without an encoding,
//     a listing line that is not UTF-8 is logged once, with a guess.
//
// # Errors
//
// A failed exchange is an *Error: the operation, the path, the reply's
// code and text, or the transport error when there was no reply; never a
// credential. Classify says what any error means (Class: not found,
// permission, no space, quota, exists, timeout, unavailable,
// unsupported...), from the reply code and, for 550, 552 and 553, its
// words.
// A Class is an error itself: errors.Is(err, ClassNotFound) asks the same
// of any error that carries an *Error or a Class. Retriable says whether
// a fresh connection may help. The errno a program sees is the mount's
// decision (package fs), from the class.
//
// # Counters
//
// Pool.Snapshot gives what ftpfs stats shows: commands by verb, round
// trips (flights of commands and TCP connects), failed exchanges by
// class, bytes each way, the transfers under way and the connections'
// state. They are counted where they happen (stats.go) with atomics; only
// a transfer's start and end take a lock.
//
// # Locking
//
// Pool.mu guards the pool's counters and idle list and is never held while
// talking to the network. A Conn, an Upload and a Stream have no lock:
// each has one owner at a time. Stream.Interrupt is the exception, safe
// from any goroutine: it makes a blocked Read return.
package conn
