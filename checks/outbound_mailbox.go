package checks

import (
	"context"
	"slices"
)

// Mailbox refuses a submission whose return address (MAIL FROM) is in one
// of our domains but is no mailbox or alias of ours: replies and bounces
// to it would be lost. The list is the mailboxes file, in the format of
// the recipient list (one address a line, "@domain" for a whole domain),
// read again when it changes. The null sender is allowed; addresses
// outside our domains are not its business.
type Mailbox struct {
	Domains []string // our sending domains, lowercased
	List    *RecipientList
	// The replies; see Table for the defaults.
	Unknown, Temp Reply
}

// Name implements Check.
func (*Mailbox) Name() string { return MailboxName }

// CheckMail implements MailChecker.
func (m *Mailbox) CheckMail(_ context.Context, env *Envelope) Result {
	if env.From == "" {
		return Result{Status: Pass, Reason: ReasonMailboxNullSender, Text: "the null sender gets no replies"}
	}
	vars := map[string]string{"sender": env.From}
	a, err := ParseAddress(env.From)
	if err != nil || a.Domain == "" {
		return Result{Status: Fail, Reason: ReasonMailboxUnknown, Text: "malformed return address", Reply: m.Unknown.Expand(vars)}
	}
	if !slices.Contains(m.Domains, a.Domain) {
		return Result{Status: Pass, Reason: ReasonMailboxForeign, Text: a.Domain + " is not one of our domains"}
	}
	ok, err := m.List.Has(a)
	switch {
	case err != nil:
		return Result{Status: TempError, Reason: ReasonMailboxTempError, Text: err.Error(), Reply: m.Temp.Expand(vars)}
	case !ok:
		return Result{Status: Fail, Reason: ReasonMailboxUnknown, Text: a.String() + " is not in " + m.List.path, Reply: m.Unknown.Expand(vars)}
	}
	return Result{Status: Pass, Reason: ReasonMailboxListed, Text: "listed"}
}

// The mailbox check's reasons (its log's mailsift.checks.mailbox.reason, and keys of its actions).
const (
	ReasonMailboxListed     = "mailbox-listed"
	ReasonMailboxNullSender = "mailbox-null-sender"
	ReasonMailboxForeign    = "mailbox-foreign"
	ReasonMailboxUnknown    = "mailbox-unknown"
	ReasonMailboxTempError  = "mailbox-temperror"
)

func mailboxReasons() []string {
	return []string{ReasonMailboxListed, ReasonMailboxNullSender, ReasonMailboxForeign, ReasonMailboxUnknown, ReasonMailboxTempError}
}

// NewMailbox builds the mailbox check from its table, our sending domains
// and the loaded mailbox list.
func NewMailbox(t *OutboundCheck, domains []string, list *RecipientList) Check {
	return &Mailbox{Domains: domains, List: list, Unknown: t.Reply(MailboxName, "unknown"), Temp: t.Reply(MailboxName, "temp")}
}
