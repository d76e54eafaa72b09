package conn

// Warm dials, in the background, every connection the pool may still
// open, each logging in and opening its first data connection ahead
// (spare), and returns at once. Its caller expects transfers over all of
// them soon (a listing of a directory of small files: cp -r, tar and
// rsync read them next): dialled at their first read, they would come a
// login later, four round trips on which the reads wait; dialled now,
// their logins travel beside the listings and the exact times that come
// before the first read. Connections in use are left alone.
func (p *Pool) Warm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for n := p.ceiling - p.total; n > 0; n-- {
		p.spare()
	}
}
