package conn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"
)

// Active mode (Config.Active): the server connects to us for each
// transfer, to the port EPRT (else PORT) names, for servers and
// firewalls where passive connections fail. Nothing is opened ahead
// then: canArm and warm say no, and start takes startActive. Once a port
// was taken on a connection (portOK), a download or a listing sends its
// EPRT (or PORT), REST and command together, behind a listener opened
// before: one round trip, then the server's connect, instead of one per
// command. Small files read together are pipelined the same way, a round
// trip each (active_batch.go).

// startActive is start in active mode: a listener, EPRT or PORT, REST,
// the command and its 150, then the server's connection.
func (c *Conn) startActive(ctx context.Context, op, path, cmd string, off int64) (*transfer, error) {
	var ln net.Listener
	var opening reply
	var err error
	// An upload is not pipelined: its caller does not start it again
	// on a fresh connection should the port be refused.
	if c.portOK && op != "stor" && (off == 0 || c.restOK) {
		ln, opening, err = c.activePipelined(ctx, op, path, cmd, off)
	} else {
		ln, opening, err = c.activeOneByOne(ctx, op, path, cmd, off)
	}
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	data, err := acceptFrom(ctx, ln, c.serverIP(), c.deadline(ctx), c.cfg.Logger)
	if err != nil {
		// The server's reply to its failed connection is still to come.
		c.broken = true
		return nil, &Error{Op: op, Path: path, Err: fmt.Errorf("data connection: %w", err)}
	}
	if op == "retr" && !c.protP {
		halfClose(data)
	}
	data, live := c.track(data, op, path, off, opening.msg)
	return c.dataTLS(ctx, op, path, data, live, false)
}

// activeOneByOne names the port, sends REST and the command, each in a
// round trip of its own, and returns the listener and the command's 150.
func (c *Conn) activeOneByOne(ctx context.Context, op, path, cmd string, off int64) (net.Listener, reply, error) {
	ln, err := c.listenActive(ctx)
	if err != nil {
		return nil, reply{}, err
	}
	if off > 0 {
		_, err := c.expect(ctx, op, path, []int{350}, "REST "+strconv.FormatInt(off, 10))
		c.restOK = c.restOK || err == nil
		if err != nil {
			ln.Close()
			return nil, reply{}, err
		}
	}
	opening, err := c.expect(ctx, op, path, []int{125, 150}, cmd)
	if err != nil {
		ln.Close()
		return nil, reply{}, err
	}
	return ln, opening, nil
}

// activePipelined is activeOneByOne in one write, on a connection where
// a port was taken before. A port or a REST refused now leaves the
// replies behind it unread: the connection is broken, and the error,
// without a reply code, says to try again on a fresh one, which names
// its port alone.
func (c *Conn) activePipelined(ctx context.Context, op, path, cmd string, off int64) (net.Listener, reply, error) {
	ln, announce, err := c.activeListener()
	if err != nil {
		return nil, reply{}, err
	}
	port := portLine(announce, ln.Addr().(*net.TCPAddr).Port, !c.noEPRT)
	lines := []string{port}
	if off > 0 {
		lines = append(lines, "REST "+strconv.FormatInt(off, 10))
	}
	opening, err := c.activeReplies(ctx, op, path, append(lines, cmd))
	if err != nil {
		ln.Close()
		return nil, reply{}, err
	}
	return ln, opening, nil
}

// activeReplies sends lines (a port, maybe REST, the command) and reads
// their replies: the command's 150, or the error.
func (c *Conn) activeReplies(ctx context.Context, op, path string, lines []string) (reply, error) {
	if err := c.sendAll(ctx, lines...); err != nil {
		return reply{}, &Error{Op: op, Path: path, Err: err}
	}
	for _, want := range []int{200, 350}[:len(lines)-1] {
		r, err := c.readReply(ctx)
		if err != nil {
			return reply{}, &Error{Op: op, Path: path, Err: err}
		}
		if r.code != want {
			c.broken = true
			return reply{}, &Error{Op: op, Path: path, Err: fmt.Errorf("pipelined %s refused: %d %s", lines[0][:4], r.code, clip(firstLine(r.msg)))}
		}
	}
	return c.check(ctx, op, path, []int{125, 150})
}

// serverIP is the address data connections must come from in active
// mode: the control connection's peer.
func (c *Conn) serverIP() net.IP {
	return c.raw.RemoteAddr().(*net.TCPAddr).IP
}

// listenActive opens the port of the next transfer and names it to the
// server: EPRT, or PORT where EPRT is unknown (and the address IPv4).
func (c *Conn) listenActive(ctx context.Context) (net.Listener, error) {
	ln, announce, err := c.activeListener()
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if !c.noEPRT {
		r, err := c.exchange(ctx, portLine(announce, port, true))
		if err != nil {
			ln.Close()
			return nil, &Error{Op: "eprt", Err: err}
		}
		if r.code == 200 {
			c.portOK = true
			return ln, nil
		}
		if r.code != 500 && r.code != 502 && r.code != 504 || announce.To4() == nil {
			ln.Close()
			if r.code == 421 {
				c.broken = true
			}
			return nil, &Error{Op: "eprt", Code: r.code, Msg: firstLine(r.msg)}
		}
		c.noEPRT = true
	}
	if _, err := c.expect(ctx, "port", "", []int{200}, portLine(announce, port, false)); err != nil {
		ln.Close()
		return nil, err
	}
	c.portOK = true
	return ln, nil
}

// activeListener opens a port for the server to connect to, and says
// the address to name. It listens on Config.ActiveAddr when that is one
// of ours, else on the control connection's local address, and names
// ActiveAddr when set (a NAT's outside address, forwarded to us).
func (c *Conn) activeListener() (net.Listener, net.IP, error) {
	local := c.raw.LocalAddr().(*net.TCPAddr).IP
	announce := local
	if c.cfg.ActiveAddr != "" {
		ip := net.ParseIP(c.cfg.ActiveAddr)
		if ip == nil {
			return nil, nil, &Error{Op: "eprt", Err: fmt.Errorf("active address %q is not an IP address", c.cfg.ActiveAddr)}
		}
		announce = ip
	}
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: announce})
	if err != nil {
		if ln, err = net.ListenTCP("tcp", &net.TCPAddr{IP: local}); err != nil {
			return nil, nil, &Error{Op: "eprt", Err: err}
		}
	}
	return ln, announce, nil
}

// portLine names port of ip to the server: EPRT with eprt, else PORT
// (IPv4 only).
func portLine(ip net.IP, port int, eprt bool) string {
	if eprt {
		proto := "2"
		if ip.To4() != nil {
			proto = "1"
		}
		return fmt.Sprintf("EPRT |%s|%s|%d|", proto, ip, port)
	}
	a := ip.To4()
	return fmt.Sprintf("PORT %d,%d,%d,%d,%d,%d", a[0], a[1], a[2], a[3], port>>8, port&0xff)
}

// errStranger is a data connection that came from another host than the
// server: whoever it is gets nothing of ours, nor do we read theirs.
var errStranger = errors.New("no data connection from the server in time")

// acceptFrom accepts the first connection to ln that comes from ip, by
// deadline or until ctx ends; connections from other addresses (someone
// who found the port first) are closed, and the wait goes on.
func acceptFrom(ctx context.Context, ln net.Listener, ip net.IP, deadline time.Time, log *slog.Logger) (net.Conn, error) {
	tl := ln.(*net.TCPListener)
	tl.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { tl.SetDeadline(time.Now()) })
	defer stop()
	strangers := 0
	for {
		nc, err := tl.AcceptTCP()
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if strangers > 0 {
				return nil, fmt.Errorf("%w (%d from elsewhere refused): %w", errStranger, strangers, err)
			}
			return nil, err
		}
		if nc.RemoteAddr().(*net.TCPAddr).IP.Equal(ip) {
			return nc, nil
		}
		strangers++
		log.Warn("active mode: data connection from another host than the server closed", "from", nc.RemoteAddr().String())
		nc.Close()
	}
}
