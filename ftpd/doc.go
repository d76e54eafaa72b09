// Package ftpd is an FTP server (RFC 959, 2389, 2428, 3659, 4217) built the
// classic way, for the tests and benchmarks of the ftpfs mount and for trying
// ftpfs without a server of one's own.
//
// # Model
//
// A listener accepts control connections and hands each to its own session
// goroutine. A session owns one control connection until QUIT; it opens one
// data connection per transfer, passive (PASV/EPSV: the session listens and
// the client connects, accepted only from the control connection's peer) or
// active (PORT/EPRT: the session dials the client, only the client's own
// address), and closes it when the transfer ends. The control connection
// never carries file data.
//
// # Goroutines of a session
//
//   - The session loop parses and answers commands, one at a time.
//   - A reader goroutine reads command lines, one per request from the loop.
//     Lines are pulled rather than pushed so that nothing reads past an
//     AUTH TLS line before the handshake swaps the connection.
//   - During a transfer, a transfer goroutine moves the bytes while the loop
//     keeps reading lines, so that ABOR, STAT and NOOP are answered; other
//     commands received meanwhile wait until the transfer ends.
//
// Server.Close closes every listener and connection and waits for all of
// these goroutines.
//
// # Paths
//
// Clients see a virtual tree rooted at "/". Paths are cleaned lexically (a
// ".." above the root is refused with 550, never clamped) and then opened
// through an os.Root, which also refuses symlinks that lead outside.
//
// # Digests
//
// The full profile offers HASH (draft-bryan-ftpext-hash): "213 SHA-256
// 0-N hex name" for a file of N bytes, SHA-256 by default, SHA-1, MD5 or
// CRC32 after OPTS HASH, so that clients can check transfers end to end.
//
// # Faults and counters
//
// Faults (SetFaults) make the server slow, lossy or broken on purpose. Every
// command received is counted by verb (Counts) and, when Config.CommandLog is
// set, written there as one line: tests count the exact FTP commands a client
// sends.
//
// # Bytes
//
// A plain RETR moves file data with io.CopyN from *os.File to
// *net.TCPConn, which Go turns into sendfile, 1 MiB between two renewals
// of the data timeout. Uploads, TLS, rate limits and data faults use a
// copy loop with a 256 KiB buffer (faster than splice for uploads, as
// measured by make bench). No file is ever read whole into memory.
package ftpd
