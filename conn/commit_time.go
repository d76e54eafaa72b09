package conn

import (
	"context"
	"time"
)

// An upload's time. The server stamps a file when its last byte arrives,
// and the caller, which shows the file's time until the next listing,
// cannot guess it to the second: a time that changes a moment later,
// when the listing brings the server's, looks like a change of the file
// to whoever compares times (editors, make, rsync). So the commit asks
// for it, in the flight that puts the upload in place: no round trip
// more, one command. The time is asked as the listings will give it:
// MLST where they are MLSD (its facts are theirs, fractions of a second
// included, which MDTM may not give), else MDTM, in the server's zone,
// the time LIST servers' files have to the second.
//
// The commit asks nothing where commands are not pipelined (the server
// may not take MDTM behind a rename in the same flight), nor where
// nothing goes after the data (an upload under its final name without a
// chmod: SIZE alone, whose flight is the end of the data's own), nor
// where FEAT lists neither MLSD nor MDTM: the caller then guesses, as
// before.

// ask is a command of a commit's flight that asks rather than changes:
// read reads its reply, a refusal being no failure.
type ask struct {
	line string
	read func(context.Context) error
}

// readAsks reads the replies to asks, sent behind a flight's steps. One
// out of step, or unread, ends the connection: the flight's changes
// are done, and none fails for a question's sake.
func readAsks(ctx context.Context, c *Conn, asks []ask) {
	for _, a := range asks {
		if c.broken {
			return
		}
		if a.read(ctx) != nil {
			c.broken = true
		}
	}
}

// toldTime is a commit's asks of its file's time, and their answers.
type toldTime struct {
	asks   []ask
	name   string    // the file's final name
	facts  Entry     // MLST's entry
	listed bool      // MLST told the facts
	mdtm   time.Time // MDTM's time-val as the server wrote it, zero if not told
	asked  bool      // MDTM went for the zone's sake (LearnZone)
}

// timeAsks are the asks of the time of the upload from, put in place by
// steps as pl says. MDTM goes too while the server's zone is to be
// learnt: the commit's MDTM stands for the one LearnZone would send.
func (p *Pool) timeAsks(c *Conn, steps []step, from string, pl Placement) *toldTime {
	t := &toldTime{name: from}
	if len(steps) == 0 || !p.Pipelining() {
		return t
	}
	if pl.To != "" {
		t.name = pl.To
	}
	if c.feat.MLSD {
		t.asks = append(t.asks, ask{"MLST " + t.name, func(ctx context.Context) (err error) {
			t.facts, t.listed, err = c.readMLST(ctx, t.name)
			return err
		}})
	}
	if c.feat.MDTM && (!c.feat.MLSD || p.zoneOpen()) {
		t.asked = p.zoneOpen()
		t.asks = append(t.asks, ask{"MDTM " + t.name, func(ctx context.Context) (err error) {
			t.mdtm, err = c.readModTime(ctx, t.name)
			return err
		}})
	}
	return t
}

// place puts what t holds of the file in done, once the flight put it in
// place: its time, and what its MDTM taught of the server's zone.
func (p *Pool) place(t *toldTime, done *Placed) {
	if t.asked && !t.mdtm.IsZero() {
		done.ZoneAsked = true
		done.ZoneChanged = p.zoneTry(t.name, time.Now(), func() (time.Time, error) { return t.mdtm, nil })
	}
	switch {
	case t.listed:
		done.ModTime = t.facts.ModTime
	case !t.mdtm.IsZero():
		done.ModTime = p.fromServer(t.mdtm)
	}
}
