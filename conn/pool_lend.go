package conn

import "context"

// The slot kept for metadata may be lent to a transfer while nobody
// needs it: a segmented read (segments.go) then uses every connection,
// and gives the slot back on its next bytes once a metadata caller waits.

// lend is get for a transfer, without waiting, that may take the slot
// kept for metadata: where nobody waits for metadata and a connection is
// idle or may be dialled. The connection is a transfer's from then on
// (put it back as one); while reclaim says so, its taker owes it back.
func (p *Pool) lend(ctx context.Context) (*Conn, error) {
	if p.Waiting(Metadata) {
		return nil, ErrBusy
	}
	c, err := p.get(ctx, Metadata, false)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.take(Transfer)
	p.mu.Unlock()
	return c, nil
}

// reclaim says whether transfers hold the slot kept for metadata while a
// metadata caller waits for a connection: a connection taken with lend
// goes back now.
func (p *Pool) reclaim() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.waiting[Metadata] > 0 && p.transfers >= p.ceiling
}
