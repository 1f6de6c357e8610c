package dsn

import (
	"strings"
	"testing"
)

func TestLhostFind(t *testing.T) {
	for _, c := range []struct{ status, notice, want string }{
		// qmail, its spaces squeezed as sisimai's Sweep does.
		{"5.1.1", "<kijitora@example.jp>:\nSorry, no mailbox   here by that name. (#5.1.1)", "userunknown"},
		{"4.4.3", "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", "networkerror"},
		// qmail: both halves of its onhold pair, in order.
		{"5.0.0", "192.0.2.1 does not like recipient. I'm not going to try again; this message has been in the queue too long.", "onhold"},
		{"4.4.7", "I'm not going to try again; this message has been in the queue too long.", "expired"},
		// Exim; case-sensitive, as the modules match.
		{"5.0.0", "kijitora@example.jp\n    Unrouteable address", "hostunknown"},
		{"5.0.0", "kijitora@example.jp\n    UNROUTEABLE ADDRESS", ""},
		// Domino's ISO-8859-1 wording, its parts in order.
		{"5.0.0", "kijitora@example.jp non r\xe9pertori\xe9 dans l'annuaire Domino", "userunknown"},
		// Exchange 2003: the code after MSEXCH:.
		{"5.0.0", "MSEXCH:IMS:KIJITORA CAT:EXAMPLE:EXCHANGE 0 (000C05A6) Unknown Recipient", "userunknown"},
		{"5.0.0", "(000C05A6) Unknown Recipient", ""},
		// Exchange 2007: the NDR code as the module cuts it.
		{"5.1.1", "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##", "userunknown"},
		// Gmail's state table, and its status override.
		{"5.0.0", "550 550 Unknown user kijitora@example.jp (state 18).", "filtered"},
		{"5.2.2", "550 550 5.2.2 <kijitora@example.jp>... Mailbox Full (state 14).", "mailboxfull"},
		{"", "500 Remote server does not support SMTP Authenticated Relay (state 12).", "norelaying"},
		// Rows dropped as too generic.
		{"5.0.0", "Unable to deliver message to kijitora@example.jp", ""},
		{"4.3.0", "451 temporary system error", ""},
		{"5.0.0", "501 5.0.0 Invalid domain name", ""},
		{"", "", ""},
	} {
		f := &fact{status: c.status}
		if got := reasons.lhostFind(f, c.notice); got != c.want {
			t.Errorf("lhostFind(%q, %q) = %q, want %q", c.status, c.notice, got, c.want)
		}
	}
}

// The notice is read up to maxNotice bytes.
func TestLhostBounded(t *testing.T) {
	pad := strings.Repeat("x ", maxNotice/2)
	f := &fact{status: "5.1.1"}
	if got := reasons.lhostFind(f, pad+"Sorry, no mailbox here by that name."); got != "" {
		t.Errorf("past the bound: %q", got)
	}
	if got := reasons.lhostFind(f, pad[:maxNotice-100]+"Sorry, no mailbox here by that name."); got != "userunknown" {
		t.Errorf("within the bound: %q", got)
	}
}

// Every module's rows name a reason of reasonClass.
func TestLhostData(t *testing.T) {
	if len(lhosts) < 20 {
		t.Fatalf("%d modules", len(lhosts))
	}
	for _, m := range lhosts {
		if len(m.rows) == 0 {
			t.Errorf("%s: no rows", m.name)
		}
		for _, r := range m.rows {
			if _, ok := reasonClass[r.reason]; !ok {
				t.Errorf("%s: unknown reason %q (%q)", m.name, r.reason, r.parts)
			}
			for _, p := range r.parts {
				if strings.TrimSpace(p) == "" {
					t.Errorf("%s: empty part in %q", m.name, r.parts)
				}
			}
		}
	}
	if lhosts[0].name != "Exim" {
		t.Errorf("first module %s, want Exim (lhost/order.go)", lhosts[0].name)
	}
}
