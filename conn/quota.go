package conn

import (
	"context"
	"errors"
	"math"
	"strconv"
	"strings"
)

// Quota is what SITE QUOTA (proftpd's mod_quotatab) tells of the user's
// upload limit: the bytes uploaded so far and the limit, Limit 0 when the
// server has no byte limit on uploads. Download, transfer and file-count
// limits say nothing of the room left to write and are ignored.
type Quota struct {
	Used, Limit uint64
}

// Space is what the server tells of the room left to write under a
// directory.
type Space struct {
	Free  uint64 // bytes the user may still write; valid when Known
	Known bool
	Quota Quota // Limit is 0 when the server tells no quota
}

// Space gives the server's free space and quota together: Free is AVBL's
// figure, the quota's limit less its use, or the smaller of the two where
// the server gives both (a quota below the disk's free space, or a disk
// fuller than the quota).
func (p *Pool) Space(ctx context.Context, dir string) (Space, error) {
	avail, known, err := p.Available(ctx, dir)
	if err != nil {
		return Space{}, err
	}
	q, err := p.Quota(ctx)
	if err != nil {
		return Space{}, err
	}
	sp := Space{Free: avail, Known: known, Quota: q}
	if q.Limit > 0 {
		left := q.Limit - min(q.Used, q.Limit)
		if !known || left < sp.Free {
			sp.Free = left
		}
		sp.Known = true
	}
	return sp, nil
}

// Quota asks SITE QUOTA, reused for SpaceTTL as AVBL's answer is. A
// server that refuses it (500, 502: no such command; 550: barred; 202:
// no quota in effect) or answers in a form other than mod_quotatab's is
// never asked again: the zero Quota, no error.
func (p *Pool) Quota(ctx context.Context) (Quota, error) {
	if p.quota.refused.Load() {
		return Quota{}, nil
	}
	q, err := p.quota.get(ctx, "", func() (Quota, error) {
		var q Quota
		err := p.do(ctx, Metadata, func(c *Conn) error {
			r, err := c.expect(ctx, "site quota", "", []int{200}, "SITE QUOTA")
			if err != nil {
				return err
			}
			q, err = parseSiteQuota(r.msg)
			return err
		})
		return q, err
	})
	var fe *Error
	if errors.Is(err, errQuotaForm) || errors.As(err, &fe) && refusesQuota(fe.Code) {
		p.quota.refused.Store(true)
		return Quota{}, nil
	}
	return q, err
}

func refusesQuota(code int) bool {
	switch code {
	case 202, 500, 502, 550:
		return true
	}
	return false
}

// errQuotaForm is a SITE QUOTA reply with no "Uploaded" byte figures.
var errQuotaForm = errors.New("SITE QUOTA reply without uploaded bytes")

// quotaUnits are mod_quotatab's QuotaDisplayUnits, as its reply names them.
var quotaUnits = map[string]float64{"bytes": 1, "kb": 1 << 10, "mb": 1 << 20, "gb": 1 << 30}

// parseSiteQuota reads mod_quotatab's 200 reply, from its line
// "  Uploaded bytes:\tUSED/LIMIT" (or Kb, Mb, Gb, with two decimals, or
// "unlimited"). Continuation lines may carry the code ("200-") or not.
func parseSiteQuota(msg string) (Quota, error) {
	for line := range strings.SplitSeq(msg, "\n") {
		line = strings.TrimSpace(line)
		if len(line) > 4 && line[3] == '-' {
			if _, err := strconv.Atoi(line[:3]); err == nil {
				line = strings.TrimSpace(line[4:])
			}
		}
		word, rest, _ := strings.Cut(line, " ")
		if !strings.EqualFold(word, "Uploaded") {
			continue
		}
		unit, figures, ok := strings.Cut(strings.TrimSpace(rest), ":")
		mult, isBytes := quotaUnits[strings.ToLower(unit)]
		if !ok || !isBytes {
			continue // "Uploaded files:"
		}
		figures = strings.TrimSpace(figures)
		if strings.EqualFold(figures, "unlimited") {
			return Quota{}, nil
		}
		u, l, ok := strings.Cut(figures, "/")
		if !ok {
			return Quota{}, errQuotaForm
		}
		used, err1 := quotaFigure(u, mult)
		limit, err2 := quotaFigure(l, mult)
		if err1 != nil || err2 != nil {
			return Quota{}, errQuotaForm
		}
		return Quota{Used: used, Limit: limit}, nil
	}
	return Quota{}, errQuotaForm
}

// quotaFigure reads one figure, in units of mult bytes.
func quotaFigure(s string, mult float64) (uint64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil || math.IsNaN(f) || f < 0 || f*mult >= 1<<64 {
		return 0, errQuotaForm
	}
	return uint64(math.Round(f * mult)), nil
}
