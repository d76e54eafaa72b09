package ftpd

import "fmt"

// cmdSiteQuota answers "SITE QUOTA" as proftpd's mod_quotatab does (a 200
// reply of the limits, each "used/limit" or "unlimited"), when the server
// runs with Config.Quota; without one it refuses the command, as proftpd
// does with SITE QUOTA barred.
func (s *session) cmdSiteQuota() {
	limit := s.srv.cfg.Quota
	if limit <= 0 {
		s.reply(500, "'SITE QUOTA' not understood.")
		return
	}
	unlimited := func(what string) string { return "  " + what + ":\tunlimited" }
	s.replyLines(200, "The current quota for this session are [current/limit]:", []string{
		"Name: " + s.user,
		"Quota Type: User",
		"Per Session: False",
		"Limit Type: Hard",
		fmt.Sprintf("  Uploaded bytes:\t%.2f/%.2f", float64(s.srv.stored.Load()), float64(limit)),
		unlimited("Downloaded bytes"),
		unlimited("Transferred bytes"),
		unlimited("Uploaded files"),
		unlimited("Downloaded files"),
		unlimited("Transferred files"),
	}, "Please contact the administrator if these entries are inaccurate")
}

// quotaLeft is what uploads may still store under Config.Quota: the limit
// less the bytes the uploads that ended stored (a deletion gives nothing
// back). An upload in flight sees its own bytes counted by the caller,
// and uploads that run together may each fill what is left.
func (s *Server) quotaLeft() int64 {
	return max(0, s.cfg.Quota-s.stored.Load())
}
