package milter

import (
	"bytes"
	"context"
	"strings"
	"time"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/policy"
)

// DMARCReports is the milter's part of DMARC aggregate reports (RFC 7489
// §7.2): as a receiver, each inbound message's DMARC evaluation is kept in
// the store for the report builder; as a domain owner, mail to our own rua
// addresses is read and its rows logged and kept. nil in the Runtime turns
// both off.
type DMARCReports struct {
	Store dmarcreport.Store
	DNS   dmarcreport.TXTResolver // the policy domain's record, for its rua
	// Record keeps the evaluations ([dmarc] reports = true).
	Record bool
	// RUA are our rua mailboxes ([dmarc] rua_addresses): a message to one
	// of them is read as an aggregate report.
	RUA []string
	// MaxReport bounds the message kept for reading; 0 means
	// DefaultMaxReport. A larger one is delivered and not read.
	MaxReport int
	// Timeout bounds the store's work at the end of a message; 0 means 5s.
	Timeout time.Duration
}

// DefaultMaxReport is the largest message to a rua address that is read:
// reports are gzipped or zipped, rarely more than a megabyte.
const DefaultMaxReport = 16 << 20

// dmarcTx is a message's state for DMARC reports.
type dmarcTx struct {
	body     *bytes.Buffer // the message to a rua address, nil when not kept
	overflow bool          // it was over MaxReport
}

// dmarcProtocol clears SMFIP_NOBODY when mail to a rua address is read.
func (rt *Runtime) dmarcProtocol(p gomilter.OptProtocol) gomilter.OptProtocol {
	if rt.DMARC != nil && len(rt.DMARC.RUA) > 0 {
		p &^= gomilter.OptNoBody
	}
	return p
}

// toRUA reports whether a recipient of the message is one of our rua
// addresses. Local parts compare without case, as MTAs deliver them.
func (d *DMARCReports) toRUA(rcpts []string) bool {
	for _, r := range rcpts {
		r = strings.Trim(strings.TrimSpace(r), "<>")
		for _, a := range d.RUA {
			if strings.EqualFold(r, a) {
				return true
			}
		}
	}
	return false
}

// dmarcBody keeps a body chunk of a message to a rua address.
func (s *Session) dmarcBody(chunk []byte) {
	d := s.rt.DMARC
	if d == nil || len(d.RUA) == 0 || s.tx == nil || s.tx.dmarc.overflow {
		return
	}
	if s.tx.dmarc.body == nil {
		if !d.toRUA(s.env.Rcpts) {
			return
		}
		s.tx.dmarc.body = bytes.NewBuffer(s.headerBlock())
	}
	max := d.MaxReport
	if max <= 0 {
		max = DefaultMaxReport
	}
	if s.tx.dmarc.body.Len()+len(chunk) > max {
		s.tx.dmarc.body, s.tx.dmarc.overflow = nil, true
		return
	}
	s.tx.dmarc.body.Write(chunk)
}

// dmarcEndOfMessage is called once the verdict on a message is given:
// action is "reject", "tempfail", "quarantine", "tag" or "accept". It keeps
// the message's DMARC evaluation, and reads a report mailed to our rua.
func (s *Session) dmarcEndOfMessage(action string) {
	d := s.rt.DMARC
	if d == nil || s.tx == nil {
		return
	}
	t := d.Timeout
	if t <= 0 {
		t = 5 * time.Second
	}
	ctx, cancel := context.WithTimeout(s.ctx, t)
	defer cancel()
	if d.Record && s.trusted == "" && action != string(policy.Tempfail) {
		s.dmarcRecord(ctx, d, action)
	}
	if action == string(policy.Reject) || action == string(policy.Tempfail) {
		return // not delivered: the sender has it, and may send it again
	}
	switch {
	case s.tx.dmarc.overflow:
		s.log.Warn("dmarc report not read: the message is over the size limit", zap.String("email.local_id", s.env.QueueID),
			zap.Int("mailsift.dmarc.max_bytes", max(d.MaxReport, 0)), zap.Strings("email.to.address", s.env.Rcpts))
	case s.tx.dmarc.body != nil:
		log := s.log.With(zap.String("email.local_id", s.env.QueueID), zap.String("email.from.address", s.env.From))
		if _, err := dmarcreport.Receive(ctx, bytes.NewReader(s.tx.dmarc.body.Bytes()), d.Store, log); err != nil {
			log.Error("dmarc report rows not stored; the message is delivered: read it again with \"mailsift dmarc read\"", zap.Error(err))
		}
	}
}

// dmarcRecord keeps the DMARC evaluation of an inbound message that was
// accepted or refused at its end.
func (s *Session) dmarcRecord(ctx context.Context, d *DMARCReports, action string) {
	var dmarcFinding *finding
	fs := s.findings()
	for i := range fs {
		if fs[i].r.Check == checks.DMARCName {
			dmarcFinding = &fs[i]
		}
	}
	if dmarcFinding == nil {
		return
	}
	results := map[string]checks.Result{}
	for _, f := range fs {
		results[f.r.Check] = f.r
	}
	disp, comment := disposition(action, *dmarcFinding, fs)
	rec, ok := dmarcreport.RecordFromResult(ctx, d.DNS, dmarcreport.Input{
		Time: s.now(), ClientIP: s.env.ClientIP, Helo: s.env.Helo, MailFrom: s.env.From, Rcpts: s.env.Rcpts,
		Results: results, Disposition: disp, Comment: comment,
	})
	if !ok {
		return
	}
	if err := d.Store.Add(ctx, rec); err != nil {
		s.log.Warn("dmarc evaluation not kept for the aggregate report", zap.String("email.local_id", s.env.QueueID),
			zap.String("mailsift.dmarc.policy_domain", rec.PolicyDomain), zap.Error(err))
	}
}

// disposition is what was done with a message in the words of RFC 7489
// §7.2 (reject, quarantine, none), and what decided it when that was not
// the dmarc check's policy.
func disposition(action string, dm finding, fs []finding) (disp, comment string) {
	switch action {
	case string(policy.Reject):
		for _, f := range fs {
			if f.d.Action == policy.Reject && f.r.Check != "dmarc" {
				return "reject", "rejected by the " + f.r.Check + " check"
			}
		}
		return "reject", ""
	case string(policy.Quarantine):
		if dm.d.Action == policy.Quarantine {
			return "quarantine", ""
		}
		for _, f := range fs {
			if f.d.Action == policy.Quarantine {
				return "quarantine", "held by the " + f.r.Check + " check"
			}
		}
		return "quarantine", ""
	}
	// A message tagged as failing DMARC was treated as suspicious: that is
	// quarantine (RFC 7489 §6.3).
	if dm.d.Action == policy.Tag && dm.r.Status == checks.Fail {
		return "quarantine", ""
	}
	if dm.d.Wanted != dm.d.Action {
		return "none", "policy " + string(dm.d.Wanted) + " softened to " + string(dm.d.Action) + " by mode"
	}
	return "none", ""
}

// accepted is the action of an accepted message, as its log record says.
func (v verdict) accepted() string {
	switch {
	case v.quarantine != "":
		return string(actionQuarantine)
	case len(v.tags) > 0:
		return string(actionTag)
	}
	return string(actionAccept)
}
