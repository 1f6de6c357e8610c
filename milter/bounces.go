package milter

import (
	"bytes"
	"context"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dsn"
	"github.com/mailsift/mailsift/internal/suppress"
)

// Bounces reads the bounces that come back ([bounces]): mail to our bounce
// addresses, and any mail from <>, is kept (up to MaxSize) and read at its
// end; each failed recipient of a bounce is logged and counted in the
// suppression list. nil in the Runtime turns it off.
type Bounces struct {
	// Addresses are the bounce mailboxes, as checks.Address.String gives
	// them; a VERP address (local+tag@domain) is its mailbox's.
	Addresses []string
	Delimiter string // of VERP tags ([checks.recipient] delimiter); "" for none
	// Discard swallows a bounce to the bounce addresses once recorded
	// (SMFIR_DISCARD): nobody reads that mailbox.
	Discard bool
	List    *suppress.List
	MaxSize int // bytes of a message kept to be read; 0 means DefaultBounceSize
	// Timeout bounds the suppression list's work on one bounce ([checks]
	// timeout); 0 means DefaultBounceTimeout.
	Timeout time.Duration
	// Sent, when not nil ([bounces] verify_sent), remembers the messages
	// we sent: each accepted submission's Message-ID and recipients, for
	// List's window. A failed recipient counts only when the bounce is
	// about a message we sent to it; the others are logged, not counted.
	Sent suppress.Sent
}

// DefaultBounceSize bounds the part of a message kept to be read as a
// bounce; a longer one is read from its first DefaultBounceSize bytes
// (the report comes first, the returned message last).
const DefaultBounceSize = 2 << 20

// MaxBounceRecipients bounds the failed recipients of one bounce counted
// in the suppression list; the rest are logged as a count. A forged report
// naming thousands of recipients costs no more than this.
const MaxBounceRecipients = 100

// DefaultBounceTimeout bounds the suppression list's work on one bounce
// when Bounces.Timeout is 0.
const DefaultBounceTimeout = 5 * time.Second

// bounceTx is a message that may be a bounce: its body so far.
type bounceTx struct {
	body []byte
	full bool // the body outgrew MaxSize
}

// isBounceAddress reports whether rcpt is one of the bounce addresses, or
// a VERP address of one.
func (b *Bounces) isBounceAddress(rcpt string) bool {
	a, err := checks.ParseAddress(rcpt)
	if err != nil || a.Domain == "" {
		return false
	}
	local := a.Local
	if d := b.Delimiter; d != "" {
		if i := strings.Index(local, d); i > 0 {
			local = local[:i]
		}
	}
	want := local + "@" + a.Domain
	for _, x := range b.Addresses {
		if strings.EqualFold(x, want) {
			return true
		}
	}
	return false
}

// bounceRcpt notes an accepted recipient: the message is kept to be read
// when it goes to a bounce address or comes from <>.
func (s *Session) bounceRcpt(rcpt string) {
	b := s.rt.Bounces
	if b == nil || s.tx == nil {
		return
	}
	if s.tx.bounce == nil && (s.env.From == "" || b.isBounceAddress(rcpt)) {
		s.tx.bounce = &bounceTx{}
	}
}

// onlyBounceAddresses reports whether every accepted recipient of the
// message is a bounce address: only then may a bounce be discarded.
func (s *Session) onlyBounceAddresses() bool {
	for _, r := range s.env.Rcpts {
		if !s.rt.Bounces.isBounceAddress(r) {
			return false
		}
	}
	return len(s.env.Rcpts) > 0
}

// bounceChunk keeps a body chunk of a message that may be a bounce.
func (s *Session) bounceChunk(chunk []byte) {
	bt := s.tx.bounce
	if bt == nil || bt.full {
		return
	}
	limit := s.rt.Bounces.MaxSize
	if limit <= 0 {
		limit = DefaultBounceSize
	}
	if len(bt.body)+len(chunk) > limit {
		chunk, bt.full = chunk[:limit-len(bt.body)], true
	}
	bt.body = append(bt.body, chunk...)
}

// bounceEnd reads an accepted message that may be a bounce: each failed
// recipient is logged (a "bounce" record) and counted. It returns true
// when the message is to be discarded: a bounce, to bounce addresses only,
// with [bounces] discard on, whose failed recipients were all counted.
func (s *Session) bounceEnd() (discard bool) {
	if s.tx == nil || s.tx.bounce == nil {
		return false
	}
	bt, b := s.tx.bounce, s.rt.Bounces
	msg := append(s.headerBlock(), bt.body...)
	rep, err := dsn.Parse(bytes.NewReader(msg))
	if err != nil || !rep.IsBounce() {
		s.log.Debug("not a bounce", zap.Error(err), zap.String("email.local_id", s.env.QueueID), zap.Bool("mailsift.bounce.truncated", bt.full))
		return false
	}
	failed := rep.Failed()
	all := true // every failed recipient was recorded
	if len(failed) > MaxBounceRecipients {
		s.log.Warn("bounce recipients not counted", zap.String("email.local_id", s.env.QueueID),
			zap.Int("mailsift.bounce.recipients", len(failed)), zap.Int("mailsift.bounce.not_counted", len(failed)-MaxBounceRecipients))
		failed, all = failed[:MaxBounceRecipients], false
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultBounceTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	batch := b.List.Batch()
	origID := suppress.MessageID(rep.OriginalMessageID)
	for _, r := range failed {
		fields := []zap.Field{
			zap.String("event.action", "bounce"),
			zap.String("email.local_id", s.env.QueueID),
			zap.String("email.to.address", r.Recipient),
			zap.String("mailsift.bounce.class", r.Class),
			zap.String("mailsift.bounce.status", r.Status),
			zap.Bool("mailsift.bounce.hard", r.Hard),
			zap.String("mailsift.bounce.remote_mta", r.RemoteMTA),
			zap.String("mailsift.bounce.diagnostic", r.Diagnostic),
		}
		if rep.OriginalMessageID != "" {
			fields = append(fields, zap.String("mailsift.bounce.original_message_id", rep.OriginalMessageID))
		}
		if r.Recipient == "" {
			s.log.Info("bounce", fields...)
			all = false
			continue
		}
		if b.Sent != nil {
			why, err := b.notOurs(ctx, origID, r.Recipient)
			if err != nil {
				// Not counted, and the bounce is delivered: it is all
				// that is left of it.
				s.log.Error("bounce not counted: sent messages unreadable", append(fields, zap.Bool("mailsift.bounce.counted", false), zap.Error(err))...)
				all = false
				continue
			}
			if why != "" {
				s.log.Info("bounce", append(fields, zap.Bool("mailsift.bounce.counted", false), zap.String("mailsift.bounce.not_counted", why))...)
				continue
			}
			fields = append(fields, zap.Bool("mailsift.bounce.counted", true))
		}
		e, newly, err := batch.Record(ctx, r.Recipient, suppress.Bounce{Status: r.Status, Class: r.Class, Hard: r.Hard})
		if err != nil {
			s.log.Error("bounce not counted", append(fields, zap.Error(err))...)
			all = false
			continue
		}
		fields = append(fields, zap.Int("mailsift.bounce.hard_count", e.Hard), zap.Int("mailsift.bounce.soft_count", e.Soft),
			zap.Bool("mailsift.bounce.suppressed", e.Suppressed))
		s.log.Info("bounce", fields...)
		if newly {
			s.log.Warn("recipient suppressed", zap.String("event.action", "suppress"), zap.String("email.to.address", e.Address),
				zap.Int("mailsift.bounce.count", e.Bounces), zap.String("mailsift.bounce.last", e.LastText()))
		}
	}
	if err := batch.Flush(ctx); err != nil {
		s.log.Error("suppression list not exported", zap.Error(err))
	}
	// A bounce not counted is delivered: it is all that is left of it.
	return b.Discard && len(failed) > 0 && all && s.onlyBounceAddresses()
}

// notOurs says why a bounce of rcpt about the message origID is not
// counted ([bounces] verify_sent): "" when we sent that message to rcpt.
func (b *Bounces) notOurs(ctx context.Context, origID, rcpt string) (string, error) {
	if origID == "" {
		return "the report names no original Message-ID", nil
	}
	ok, err := b.Sent.WasSent(ctx, origID, rcpt, b.List.Now())
	if err != nil {
		return "", err
	}
	if !ok {
		return "not a message we sent", nil
	}
	return "", nil
}

// DefaultSentTimeout bounds the recording of a sent message when
// Bounces.Timeout is 0.
const DefaultSentTimeout = DefaultBounceTimeout

// bounceSent remembers an accepted submission ([bounces] verify_sent):
// its Message-ID and recipients, for the window, so that a bounce about
// it counts. A submission without a Message-ID cannot be remembered: its
// bounces will not count. A store error is logged; the message goes.
func (s *Session) bounceSent() {
	b := s.rt.Bounces
	if b == nil || b.Sent == nil || s.trusted == "" || s.rt.Outbound == nil || s.tx == nil || len(s.env.Rcpts) == 0 {
		return
	}
	var id string
	for _, h := range s.env.Headers {
		if strings.EqualFold(h.Name, "Message-Id") {
			id = suppress.MessageID(h.Value)
			break
		}
	}
	if id == "" {
		s.log.Info("sent message not remembered: no Message-ID; its bounces will not count", zap.String("email.local_id", s.env.QueueID))
		return
	}
	timeout := b.Timeout
	if timeout <= 0 {
		timeout = DefaultSentTimeout
	}
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	if err := b.Sent.RecordSent(ctx, id, s.env.Rcpts, b.List.Now(), b.List.Policy.Window); err != nil {
		s.log.Error("sent message not remembered: its bounces will not count", zap.Error(err), zap.String("email.local_id", s.env.QueueID))
	}
}
