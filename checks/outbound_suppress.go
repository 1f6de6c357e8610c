package checks

import (
	"context"
	"fmt"
	"strconv"

	"github.com/mailsift/mailsift/internal/suppress"
)

// SuppressionList answers whether an address is suppressed.
type SuppressionList interface {
	Suppressed(ctx context.Context, addr string) (suppress.Entry, bool, error)
}

// Suppress refuses a submission's recipient that is on the suppression
// list: an address that bounced hard too often ([bounces] hard_limit), or
// soft too often within the window. Receivers punish a domain that keeps
// mailing dead addresses; the refusal says after how many bounces, and
// the last one, so the sender (a website's mailer) can drop the address.
// Off unless enabled.
type Suppress struct {
	List SuppressionList
	// The replies; see Table for the defaults.
	Suppressed, StoreError Reply
}

// Name implements Check.
func (*Suppress) Name() string { return SuppressName }

// CheckRcpt implements RcptChecker.
func (s *Suppress) CheckRcpt(ctx context.Context, env *Envelope) Result {
	addr := env.Rcpt
	if a, err := ParseAddress(env.Rcpt); err == nil {
		addr = a.String()
	}
	e, ok, err := s.List.Suppressed(ctx, addr)
	if err != nil {
		return Result{Status: TempError, Reason: ReasonSuppressStoreError, Text: err.Error(), Reply: s.StoreError}
	}
	if !ok {
		return Result{Status: Pass, Reason: ReasonSuppressOK}
	}
	details := map[string]string{"bounces": strconv.Itoa(e.Bounces), "since": e.Since.UTC().Format("2006-01-02T15:04:05Z"),
		"last_status": e.Last.Status, "last_class": e.Last.Class}
	return Result{Status: Fail, Reason: ReasonSuppressListed, Details: details,
		Reply: s.Suppressed.Expand(map[string]string{"rcpt": addr, "bounces": strconv.Itoa(e.Bounces), "last": e.LastText()}),
		Text:  fmt.Sprintf("%s is suppressed since %s after %d bounces", addr, e.Since.UTC().Format("2006-01-02"), e.Bounces)}
}

// The suppress check's reasons (its log's mailsift.checks.suppress.reason, and keys of its actions).
const (
	ReasonSuppressOK         = "suppress-ok"
	ReasonSuppressListed     = "suppress-listed"
	ReasonSuppressStoreError = "suppress-store-error"
)

func suppressReasons() []string {
	return []string{ReasonSuppressOK, ReasonSuppressListed, ReasonSuppressStoreError}
}

// Off unless enabled; a store that cannot answer lets mail through.
func defaultSuppressTable() OutboundCheck {
	return OutboundCheck{Mode: "off", CheckConfig: CheckConfig{Actions: map[string]Action{
		"fail": ActionReject, ReasonSuppressStoreError: ActionLog}}}
}

// NewSuppress builds the suppress check from its table and the
// suppression list.
func NewSuppress(t *OutboundCheck, list SuppressionList) Check {
	return &Suppress{List: list, Suppressed: t.Reply(SuppressName, "perm"), StoreError: t.Reply(SuppressName, "store")}
}
