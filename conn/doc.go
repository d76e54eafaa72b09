// Package conn speaks FTP to one server for the mount: a bounded pool of
// logged-in control connections, the data connections of transfers,
// retries, timeouts, feature detection, error classes and the parsers of
// directory listings. It imports nothing of FUSE, so all of it is tested
// against the ftpd package over loopback.
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
// closed, never reused. At most Config.MaxConns connections exist; while
// more than one is allowed, transfers may hold all but one, so that a
// listing or a stat never queues behind long reads. A 421 "too many
// connections" at login lowers the ceiling to what the server accepts
// instead of failing the caller.
//
// # Time
//
// Every exchange (a command and its reply, opening a data connection, each
// read or write of data) ends by Config.Timeout or by the caller's context,
// whichever comes first. Operations that can be repeated safely are retried
// twice on a fresh connection after a broken connection or a 4xx reply, but
// never after a timeout: the caller has waited once already.
//
// # Locking
//
// Pool.mu guards the pool's counters and idle list and is never held while
// talking to the network. A Conn has no lock: it has one owner at a time.
package conn
