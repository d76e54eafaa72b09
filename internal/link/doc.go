// Package link emulates a network link in front of an FTP server: a relay
// on loopback that delays every byte of the control connection and of
// every data connection as a link of a given round-trip time (RTT) would,
// and counts the round trips clients spend. bench/ftplink runs it in
// front of any server, to try a client by hand; its own tests hold it to
// the model below against ftpd and vsftpd. (bench/mount injects latency
// with ftpd's reply delay instead.)
//
//	l, err := link.Start("127.0.0.1:2121", link.Options{RTT: 20 * time.Millisecond})
//	defer l.Close()
//	// point the client at l.Addr(); l.Reset(); ...; l.Stats().RoundTrips
//
// # Model
//
// Let R be the RTT and h = R/2 the one-way delay.
//
//   - Delay. A chunk of bytes the relay reads from one end at t is written
//     to the other end at t+h, in order and with its boundaries, each
//     direction on its own. Commands sent together arrive together: a
//     pipelined burst costs one round trip, not one per line.
//   - Handshake. On loopback the client's connect returns at once (t0),
//     where a real one returns after R. The relay dials the server at
//     t0+3h, when the handshake's last leg (the ACK, carrying the client's
//     first bytes) would reach it, and delivers no client byte before that.
//     So a greeting reaches the client at t0+2R, and a client that writes
//     at once after connect is answered at t0+2R, both as over real TCP.
//     What differs is only the connect call itself: a client that, having
//     connected, acts on another connection does so R early; a server that
//     answers there before accepting the data connection answers R early.
//   - Window. Each direction of each connection has at most Window bytes
//     in flight: a byte counts from the read that took it from the sender
//     until h after the write that delivered it (its ACK's way back), and
//     the relay reads from the sender only within the window. One stream
//     thus moves at most Window per RTT, and a slow receiver holds the
//     window longer. There is no slow start and no loss.
//   - Rate. With Options.Rate, a token bucket caps each direction of each
//     connection, as servers that throttle every connection do.
//   - Close. An end's FIN reaches the other end h later, after the bytes
//     before it; a failed write (reset) closes both ends at once.
//
// A transfer on a logged-in connection thus costs: EPSV answered at R,
// data connect at R (returns at once), RETR sent; the server accepts the
// data connection at R+3h and the first byte arrives at 3R, as on a real
// link where the client connects (returning at 2R) and then sends RETR.
//
// Active data connections mirror this. The server's connect reaches the
// link's listener at s and returns at once, R early; the link dials the
// client at s+3h (a real SYN reaches the client at s+h, its SYN-ACK is
// back at s+R, the ACK with the first data reaches the client at s+3h)
// and delivers no server byte before. Window, rate and close are those of
// passive connections. As a real server is blocked in connect until s+R,
// the link holds what would show it acting earlier: on the control
// connection, what the client sent after a transfer command (RETR, STOR,
// STOU, APPE, LIST, NLST, MLSD) that uses a PORT or EPRT reaches the
// server no earlier than s+R, or as soon as the server answers that
// command with a final reply and no 1xx (550, 425: it did not connect);
// what the server sends from its 1xx to that command on reaches the
// client no earlier than s+R+h. So PORT or EPRT sent with RETR on an idle
// connection brings the first byte at 2R (and the 150 with it), and a
// client that sends "EPRT a; RETR a; EPRT b; RETR b; ..." in one burst
// gets a file per round trip, the server connecting for the next as the
// previous connect returns, as over a real link; without the hold the
// server would connect for all at once. A command pipelined behind such a
// transfer command waits with it, even an ABOR meant for an earlier
// transfer. The hold ends at the latest when the control connection
// ends. (After a 1xx, the link waits for the server's connection up to
// a second past the final reply: servers connect before their 1xx.)
//
// With Options.Linger the link models a server whose close of a data
// connection returns only once its FIN is acknowledged, R after the FIN
// over a real link: vsftpd sets SO_LINGER, and sends the transfer's 226
// and reads its next command only when that close returns. On loopback
// the link's kernel acknowledges the FIN at once (or after its 40 ms
// delayed ACK), which would hide that round trip. When the link reads
// the server's FIN on a data connection at f (on an active one, f is no
// earlier than s+R, when the server's connect returned in the model),
// the server is blocked until f+R: the 226 that says the transfer
// completed, and all the server sends after it, reach the client no
// earlier than f+R+h; what the client sent that had not reached the
// server at f reaches it no earlier than f+R. The 226 follows the data
// connection whose FIN the link read or its kernel has (data before the
// FIN may wait for the window), else the newest one the server opened,
// else the newest one announced, whose FIN it waits for (a server that
// does not linger may reply before its FIN left), or for a second if
// the server never opens it. Other
// replies are not held, and commands delivered before f escape the
// hold. So a small file read in passive mode behind another, its RETR
// sent with the next EPSV, costs 3R (229 with the 226, connect, RETR and
// data, the FIN's ACK) instead of 2R, and one in an active burst 2R (the
// connect, the FIN's ACK) instead of R. Servers that do not linger
// (ftpd) reply at once.
//
// # Passive and active data connections, and what is refused
//
// Replies on a control connection are read line by line: a 227 (PASV) or
// 229 (EPSV) reply, single- or multi-line, pipelined with others or split
// across reads, gets the port of a listener of the relay, which relays the
// one connection it accepts to the port the server announced, on the
// server's host (the address in a 227 is ignored, as most clients do).
// Lines of other replies are never rewritten, even when a multi-line reply
// carries text that looks like a passive reply.
//
// A PORT or EPRT line is held whole and, as the server gets it, names a
// listener of the relay instead of the client's port: on the host of the
// relay's own control connection to the server (IPv4 for PORT), the
// command's form kept. That listener relays the one connection it
// accepts from the server's host (others are closed) to the port the
// client announced, on the control connection's peer, from the address
// that connection reached (clients accept data connections from the
// server's host only): the announced address is ignored, as a 227's is,
// since servers accept only the client's own. A line without a readable port reaches the server without
// its argument, which the server refuses. The next PORT or EPRT, a
// passive reply, the control connection's end and Close each close a
// listener not used, as a server forgets an address it did not use.
//
// The relay must read the control connection, so it stays plain: the
// relay answers AUTH itself with 534 (no TLS through the emulator), rather
// than let encrypted passive replies send data connections around it.
// Implicit TLS (ftps://) is not supported.
//
// # Counting
//
// Stats counts FTP verbs, connections, bytes each way, client flights and
// round trips. A flight is what a client sends on one connection after
// something was delivered to it on that connection (a connect is one).
// RoundTrips is the depth of the critical path, robust to parallel
// connections: every chunk carries a round number, a client's chunk one
// more than the highest round delivered to any client before it was sent,
// a server's chunk the highest round delivered to any server before it was
// sent. A connect is a round and its handshake's last leg the next, so a
// login (connect, greeting, USER, PASS) is 4, a NOOP 1, N pipelined NOOPs
// 1, EPSV+RETR 3, and operations on several connections at once overlap.
// A server's connect (active mode) is a round, that of the SYN-ACK coming
// back: one more than the highest round delivered to any server before
// it, which it reaches at s+R; the server's data on it carries that round
// at least. So EPRT+RETR on an idle connection is 2 (the commands, the
// connect), an active transfer behind a finished one adds 1, and N files
// asked for in one burst of EPRT and RETR cost N+1. Data counts the data
// connections of both modes. With Options.Linger the ACK of the server's
// FIN on a data connection is a round, one more than the FIN's (that of
// the data before it), which reaches the server when its close returns;
// what the server sends after a lingering close carries it at least. So
// a small passive file behind another costs 3 rounds instead of 2, and N
// files asked for in one burst of EPRT and RETR cost 2N+1 instead of
// N+1: each connect and each ACK, the last 226's included.
// Over a real link, an operation of n round trips takes at least n*R;
// unrelated activity on other connections can only add to the count.
//
// # Goroutines and locks
//
// The accept loop runs in its own goroutine, and each passive or active
// listener in one until it accepted its connection. Each relayed
// connection has a goroutine that dials the other side and waits for the
// pair to end, and each direction a reader and a writer. Link.mu guards the set of live
// connections; relay.mu a connection's dialed side and listeners;
// relay.ctl orders the replies the link gives among the server's and
// follows the active transfers awaiting their replies and, with Linger,
// the server's ends of the data connections (a data connection's reader
// that read a FIN stays until the server's close returns); pipe.mu
// one direction's queue and window; meter.mu the counters. Lock order:
// relay.ctl before the others, which are never held together. Close
// closes every listener and connection, which ends every blocking call,
// and waits for all goroutines.
package link
