package checks

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/mailsift/mailsift/greylist"
)

// Limit is the daily message limit of submissions: at most Max accepted
// messages per login (or, without a login, per MAIL FROM address) in any
// rolling 24 hours. The count lives in the greylist's store, memory or
// Redis, so that a fleet sharing a Redis shares it. It is read at MAIL
// FROM and counted when the message is accepted (Accepted). The null
// sender without a login (bounces) is not counted.
type Limit struct {
	Store  greylist.Counter
	Max    int
	Window time.Duration // 24 hours
	Now    func() time.Time
	// Observe, when set, is told each count after a message is counted.
	Observe func(who string, count int)
	// The replies; see Table for the defaults.
	Reached, StoreError Reply
}

// Name implements Check.
func (*Limit) Name() string { return LimitName }

// who is what the limit counts for env: "login NAME" or "sender ADDR",
// and how it is named in the reply.
func limitKey(env *Envelope) (key, shown string) {
	if env.AuthUser != "" {
		return "login:" + env.AuthUser, env.AuthUser
	}
	if env.From == "" {
		return "", ""
	}
	a, err := ParseAddress(env.From)
	if err != nil {
		return "sender:" + env.From, "<" + env.From + ">"
	}
	return "sender:" + a.String(), "<" + a.String() + ">"
}

// CheckMail implements MailChecker.
func (l *Limit) CheckMail(ctx context.Context, env *Envelope) Result {
	key, shown := limitKey(env)
	if key == "" {
		return Result{Status: None, Reason: ReasonLimitNullSender, Text: "bounces without a login are not counted"}
	}
	n, err := l.Store.Count(ctx, greylist.CountKey(key), l.Now(), l.Window)
	if err != nil {
		return Result{Status: TempError, Reason: ReasonLimitStoreError, Text: err.Error(), Reply: l.StoreError}
	}
	details := map[string]string{"count": strconv.Itoa(n), "key": key}
	if n >= l.Max {
		vars := map[string]string{"login": shown, "limit": strconv.Itoa(l.Max)}
		return Result{Status: Fail, Reason: ReasonLimitReached, Details: details, Reply: l.Reached.Expand(vars),
			Text: fmt.Sprintf("%s sent %d messages in the last %s, the limit is %d", strings.TrimPrefix(key, "login:"), n, l.Window, l.Max)}
	}
	return Result{Status: Pass, Reason: ReasonLimitUnder, Details: details, Text: fmt.Sprintf("%d of %d", n, l.Max)}
}

// Accepted counts an accepted message and returns the count with it; r,
// the check's result at MAIL FROM, gets the new count in its log fields.
func (l *Limit) Accepted(ctx context.Context, env *Envelope, r *Result) (int, error) {
	key, _ := limitKey(env)
	if key == "" {
		return 0, nil
	}
	n, err := l.Store.Add(ctx, greylist.CountKey(key), l.Now(), l.Window)
	if err != nil {
		return 0, fmt.Errorf("daily limit of %s: %w", key, err)
	}
	if r != nil && r.Details != nil {
		r.Details["count"] = strconv.Itoa(n)
	}
	if l.Observe != nil {
		l.Observe(key, n)
	}
	return n, nil
}

// The limit check's reasons (its log's mailsift.checks.limit.reason, and keys of its actions).
const (
	ReasonLimitUnder      = "limit-under"
	ReasonLimitReached    = "limit-reached"
	ReasonLimitNullSender = "limit-null-sender"
	ReasonLimitStoreError = "limit-store-error"
)

func limitReasons() []string {
	return []string{ReasonLimitUnder, ReasonLimitReached, ReasonLimitNullSender, ReasonLimitStoreError}
}

// The daily limit tempfails, and a store that cannot answer lets mail
// through.
func defaultLimitTable() OutboundCheck {
	return OutboundCheck{CheckConfig: CheckConfig{Actions: map[string]Action{
		"fail": ActionTempfail, ReasonLimitStoreError: ActionLog}}}
}

// NewLimit builds the limit check from its table: at most max messages a
// day, counted in store; observe, if set, is told each count.
func NewLimit(t *OutboundCheck, store greylist.Counter, max int, observe func(who string, count int)) Check {
	return &Limit{Store: store, Max: max, Window: 24 * time.Hour, Now: time.Now, Observe: observe,
		Reached: t.Reply(LimitName, "temp"), StoreError: t.Reply(LimitName, "store")}
}
