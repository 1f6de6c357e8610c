package milter

import (
	"context"
	"slices"

	gomilter "github.com/d--j/go-milter"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dkimsign"
	"github.com/mailsift/mailsift/internal/policy"
)

// Outbound is what submissions run with: mail from a trusted network, an
// SMTP-authenticated client, or a local program (Postfix's
// non_smtpd_milters). Submissions skip the inbound chain and run this one
// instead; what they pass is DKIM-signed. nil in the Runtime turns it off.
type Outbound struct {
	Chain *checks.Chain // the outbound checks, in their order
	// Keys sign mail whose From domain (or a parent of it) has one; nil
	// signs nothing.
	Keys *dkimsign.Keys
	// Domains are our sending domains: mail from one of them that no key
	// covers is logged as unsigned.
	Domains []string
}

// signStreamName is the signer's place among a message's streams.
const signStreamName = "dkim-sign"

// protocol returns the stages mailsift does not need: the inbound chain's,
// less the body and the RCPT TO reply when submissions are checked (their
// refusals are given at RCPT TO) and signed (the signature covers the
// body).
func (rt *Runtime) protocol() gomilter.OptProtocol {
	p := protocol(rt.Chain)
	if rt.Outbound != nil {
		p &^= gomilter.OptNoBody | gomilter.OptNoRcptReply
	}
	if rt.Bounces != nil { // bounces are read at the end of the message
		p &^= gomilter.OptNoBody
	}
	return rt.dmarcProtocol(p)
}

// actions are the modifications mailsift asks of the MTA: Actions, and
// the removal of recipients when submissions' recipients are checked (a
// local submission's suppressed recipient is removed, see removable).
func (rt *Runtime) actions() gomilter.OptAction {
	a := Actions
	if rt.Outbound != nil && rt.Outbound.Chain.Has(checks.StageRcpt) {
		a |= gomilter.OptRemoveRcpt
	}
	return a
}

// trustLocal marks a session without a real SMTP client as a local
// submission: Postfix's non_smtpd_milters (the sendmail command) connect
// as "localhost" with 127.0.0.1 and port 0, or with no address at all. It
// takes precedence over a trusted network, which 127.0.0.1 usually is.
func (s *Session) trustLocal() {
	ip := s.env.ClientIP
	if !ip.IsValid() || (ip.IsLoopback() && s.env.ClientPort == 0) {
		s.trusted = "local"
	}
}

// outboundMail runs the outbound checks of MAIL FROM for a submission;
// their refusals are held until RCPT TO like the inbound ones.
func (s *Session) outboundMail() {
	if s.trusted == "" || s.rt.Outbound == nil {
		return
	}
	s.tx.mail = append(s.tx.mail, s.decide(s.runPhase(s.rt.Outbound.Chain, checks.StageMail, false))...)
}

// outboundHeld is the refusal a submission gets at RCPT TO: its outbound
// MAIL FROM findings'. A local submission gets none there: Postfix takes
// a refusal of a non-SMTP recipient for a configuration error and keeps
// the mail queued (MILTER_README), so its refusal waits for the end of
// the message, which Postfix turns into a bounce to the sender.
func (s *Session) outboundHeld() (policy.Decision, bool) {
	if s.trusted == "local" {
		return policy.Decision{}, false
	}
	return strongestRefusal(s.tx.mail)
}

// outboundRcpt runs the outbound checks of RCPT TO (the suppression list)
// for a submission, and returns the refusal for this recipient, if any,
// with the recipient's findings. A local submission gets a refusal here
// only when it can be given by removing the recipient at the end of the
// message (see removable); its other refusals wait for the end of the
// message (see outboundHeld).
func (s *Session) outboundRcpt(rcpt string) (policy.Decision, []finding, bool) {
	if s.trusted == "" || s.rt.Outbound == nil || !s.rt.Outbound.Chain.Has(checks.StageRcpt) {
		return policy.Decision{}, nil, false
	}
	s.env.Rcpt = rcpt
	fs := s.decide(s.runPhase(s.rt.Outbound.Chain, checks.StageRcpt, false))
	s.env.Rcpt = ""
	d, refused := strongestRefusal(fs)
	if s.trusted == "local" {
		if refused && s.removable(fs) {
			return d, fs, true
		}
		s.tx.rcpt = fs
		s.tx.data = append(s.tx.data, fs...)
		return policy.Decision{}, nil, false
	}
	if !refused {
		s.tx.rcpt = fs
	}
	return d, fs, refused
}

// removable reports whether a local submission's recipient refused by fs
// is removed from the message (SMFIR_DELRCPT) instead of refusing the
// whole message: when the only refusal is the suppression list's, a
// permanent one, and the MTA lets mailsift remove recipients. A website
// mailer's message to 50 recipients, one of them suppressed, then reaches
// the other 49. A temporary refusal (the list's store down) never
// removes a recipient: the message is tempfailed whole.
func (s *Session) removable(fs []finding) bool {
	if s.mod == nil || s.mod.Actions()&gomilter.OptRemoveRcpt == 0 {
		return false
	}
	for _, f := range fs {
		if f.d.Action.Refuses() && (f.d.Action != policy.Reject || f.d.Check != checks.SuppressName) {
			return false
		}
	}
	return true
}

// removal is a local submission's recipient to be removed at the end of
// the message.
type removal struct {
	rcpt    string
	d       policy.Decision
	outcome int // its entry in transaction.rcpts
}

// removeAtEnd takes a local submission's recipient refused by d (fs its
// findings) out of the message at its end: it is logged as "delete" in
// mailsift.recipients with the refusal's line, and counted as refused.
func (s *Session) removeAtEnd(rcpt string, d policy.Decision, fs []finding) {
	s.tx.rcptLast = fs
	s.tx.refusedTo = append(s.tx.refusedTo, rcpt)
	o := rcptOutcome{address: rcpt, action: "delete", reply: d.Reply.String(), check: d.Check}
	for _, f := range fs {
		if f.r.Check == d.Check {
			o.reason = f.r.Reason
		}
	}
	s.tx.removals = append(s.tx.removals, removal{rcpt: rcpt, d: d, outcome: len(s.tx.rcpts)})
	s.tx.rcpts = append(s.tx.rcpts, o)
}

// outboundRemove removes a local submission's refused recipients from an
// accepted message.
func (s *Session) outboundRemove(m gomilter.Modifier) error {
	if s.tx == nil {
		return nil
	}
	for _, r := range s.tx.removals {
		if err := m.DeleteRecipient(r.rcpt); err != nil {
			return err
		}
	}
	return nil
}

// outboundStreams starts a submission's streams: the outbound checks that
// read the body, and the DKIM signer when a key covers the From domain.
func (s *Session) outboundStreams() {
	ob := s.rt.Outbound
	if ob == nil {
		return
	}
	hdr := s.headerBlock()
	for _, c := range ob.Chain.Checks() {
		if sc, ok := c.(checks.Streamer); ok {
			st := sc.Stream(s.ctx)
			st.Write(hdr)
			s.tx.streams[c.Name()] = st
		}
	}
	from, _ := checks.AuthorDomain(s.env.Headers)
	if from == "" {
		return
	}
	k := ob.Keys.For(from)
	if k == nil {
		if ob.Keys != nil && slices.Contains(ob.Domains, from) {
			s.log.Error("no DKIM key for our domain: the message goes unsigned", zap.String("mailsift.dkim.domain", from),
				zap.String("mailsift.dkim.keys", ob.Keys.Dir), zap.String("email.local_id", s.env.QueueID))
		}
		return
	}
	names := make([]string, len(s.env.Headers))
	for i, h := range s.env.Headers {
		names[i] = h.Name
	}
	st, err := dkimsign.NewStream(k, names)
	if err != nil {
		s.log.Error("DKIM signing failed: the message goes unsigned", zap.Error(err), zap.String("email.local_id", s.env.QueueID))
		return
	}
	st.Write(hdr)
	s.tx.streams[signStreamName] = &signStream{Stream: st, key: k}
}

// signStream is the DKIM signer among a message's streams.
type signStream struct {
	*dkimsign.Stream
	key *dkimsign.Key
}

// Finish implements checks.MessageStream; the signature is taken with
// signature, once the message is accepted.
func (*signStream) Finish(context.Context) checks.Result { return checks.Result{} }

// outboundData runs the outbound checks of the end of the message for a
// submission. A p=none finding (tagged) is also logged as a warning: the
// mail leaves, and will fail DMARC at its receivers.
func (s *Session) outboundData() {
	if s.trusted == "" || s.rt.Outbound == nil {
		return
	}
	fs := s.decide(s.runPhase(s.rt.Outbound.Chain, checks.StageData, false))
	for _, f := range fs {
		if f.d.Action == policy.Tag {
			s.log.Warn("submission accepted with a finding: "+f.r.Text, zap.String("mailsift.check", f.r.Check),
				zap.String("mailsift.reason", f.r.Reason), zap.String("email.from.address", s.env.From),
				zap.String("email.local_id", s.env.QueueID))
		}
	}
	s.tx.data = append(s.tx.data, fs...)
}

// outboundVerdict is the verdict of a submission: only the outbound
// findings count (an authenticated client's connect and HELO findings were
// made before it was known to be one of ours).
func (s *Session) outboundVerdict() verdict {
	if s.rt.Outbound == nil {
		return verdict{}
	}
	refusable := s.tx.data
	if s.trusted == "local" { // MAIL FROM's refusals were not given at RCPT TO
		refusable = append([]finding{}, s.tx.mail...)
		if len(s.env.Rcpts) == 0 {
			// Every recipient was to be removed: the message is refused
			// with the first one's refusal.
			for _, r := range s.tx.removals {
				refusable = append(refusable, finding{r: checks.Result{Check: r.d.Check}, d: r.d})
			}
		}
		refusable = append(refusable, s.tx.data...)
	}
	v := verdictOf(outboundOnly(refusable), slices.Values(outboundOnly(s.findings())))
	if v.refusal != nil {
		// Refused whole: no recipient is removed, each shares the refusal.
		for _, r := range s.tx.removals {
			s.tx.rcpts[r.outcome].action = string(v.refusal.Action)
		}
	}
	return v
}

// outboundOnly keeps the outbound checks' findings.
func outboundOnly(fs []finding) []finding {
	var out []finding
	for _, f := range fs {
		if checks.IsOutbound(f.r.Check) {
			out = append(out, f)
		}
	}
	return out
}

// outboundEdits is the DKIM signature of an accepted submission, added at
// the end of the message. A signing failure leaves the message unsigned
// and is logged.
func (s *Session) outboundEdits() []edit {
	if s.trusted == "" || s.rt.Outbound == nil || s.tx == nil {
		return nil
	}
	st, ok := s.tx.streams[signStreamName].(*signStream)
	if !ok {
		return nil
	}
	// The signing is logged as the "sign" finding of the message.
	r := checks.Result{Check: "sign", Status: checks.Pass, Reason: "sign-ok",
		Details: map[string]string{"domain": st.key.Domain, "selector": st.key.Selector, "algorithm": st.key.Algorithm()}}
	sig, err := st.Stream.Finish()
	if err != nil {
		s.log.Error("DKIM signing failed: the message goes unsigned", zap.Error(err),
			zap.String("mailsift.dkim.key", st.key.Path), zap.String("email.local_id", s.env.QueueID))
		r.Status, r.Reason, r.Text = checks.PermError, "sign-failed", err.Error()
	}
	s.tx.data = append(s.tx.data, finding{r: r, d: policy.Decision{Check: "sign", Status: r.Status, Action: policy.Log}})
	if err != nil {
		return nil
	}
	return []edit{{name: "DKIM-Signature", value: sig}}
}

// accepter is an outbound check that counts accepted messages (the limit).
type accepter interface {
	Accepted(ctx context.Context, env *checks.Envelope, r *checks.Result) (int, error)
}

// outboundAccepted tells the checks that count (the daily limit) that a
// submission was accepted; the new count goes into the log record.
func (s *Session) outboundAccepted() {
	if s.trusted == "" || s.rt.Outbound == nil || s.tx == nil {
		return
	}
	for _, c := range s.rt.Outbound.Chain.Checks() {
		a, ok := c.(accepter)
		if !ok {
			continue
		}
		for i := range s.tx.mail {
			f := &s.tx.mail[i]
			if f.r.Check != c.Name() || f.r.Status != checks.Pass {
				continue
			}
			if _, err := a.Accepted(s.ctx, &s.env, &f.r); err != nil {
				s.log.Warn("counting an accepted submission failed", zap.Error(err), zap.String("email.local_id", s.env.QueueID))
			}
		}
	}
}
