package dsn

import (
	"strings"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		status, text string
		class        string
		hard         bool
	}{
		// The issue's own examples: the first digit never decides hardness.
		{"", "550 5.1.1 <bob@example.org>: Recipient address rejected: User unknown in virtual mailbox table", UserUnknown, true},
		{"", "450 4.1.1 <bob@example.org>: Recipient address rejected: User unknown in local recipient table", UserUnknown, true},
		{"", "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", SpamBlocked, false},
		{"", "550 5.7.1 Email rejected per DMARC policy for example.org", PolicyAuth, false},
		{"", "550-5.7.26 This message does not pass authentication checks (SPF and DKIM both do not pass)", PolicyAuth, false},
		{"", "550 5.7.25 [192.0.2.25] The IP address sending this message does not have a PTR record setup", PolicyAuth, false},
		{"", "552 5.2.2 <bob@example.org>: mailbox full", MailboxFull, false},
		{"", "452 4.2.2 The email account that you tried to reach is over quota", MailboxFull, false},
		{"", "554 5.7.1 <bob@elsewhere.test>: Relay access denied", RelayDenied, false},
		{"", "Host or domain name not found. Name service error for name=nowhere.test type=MX: Host not found", HostUnknown, true},
		{"", "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", UserUnknown, true},
		{"", "556 5.1.10 Recipient address has null MX", HostUnknown, true},
		{"", "550 5.1.6 address neko@cat.cat has been replaced by neko@example.jp", UserUnknown, true},
		{"", "connect to mx.example.org[192.0.2.7]:25: Connection timed out", Network, false},
		{"4.4.1", "delivery temporarily suspended: connect to mx.example.org[192.0.2.7]:25: Connection refused", Network, false},
		{"", "421 4.4.7 Delivery time expired", Expired, false},
		{"", "550 5.2.1 The email account that you tried to reach is disabled", Suspended, false},
		{"", "552 5.3.4 Message size exceeds fixed limit", TooLarge, false},
		{"", "421 4.7.0 Too many connections from your IP, slow down", RateLimited, false},
		{"", "451 4.7.1 <smtp.example.jp[192.0.2.3]>: Client host rejected: Please try again slower", RateLimited, false},
		{"", "550 5.7.1 Message rejected as spam by Content Filtering", SpamBlocked, false},
		{"", "500 5.3.5 System config error", Other, false},
		// Standard texts of MTAs and providers (their documentation, not
		// the corpus): the sender's own address refused is not the
		// recipient's domain or mailbox.
		{"", "450 4.1.8 <a@nowhere.test>: Sender address rejected: Domain not found", PolicyAuth, false},
		{"", "550 Verification failed for <a@nowhere.test> Unrouteable address Sender verify failed", PolicyAuth, false},
		{"", "504 5.5.2 <localhost>: Helo command rejected: need fully-qualified hostname", PolicyAuth, false},
		{"", "550 5.4.5 Daily user sending quota exceeded.", RateLimited, false},
		{"", "554 5.2.122 The recipient has exceeded their limit for the number of messages they can receive per hour. RecipientThresholdExceeded", RateLimited, false},
		{"", "Sorry, I couldn't find any host named nowhere.test. (#5.1.2)", HostUnknown, true},
		{"", "Sorry, I couldn't find a mail exchanger or IP address. (#5.4.4)", HostUnknown, true},
		{"", "all relevant MX records point to non-existent hosts", HostUnknown, true},
		{"", "Sorry, I wasn't able to establish an SMTP connection. (#4.4.1)", Network, false},
		{"", "This message is looping: it already has my Delivered-To line. (#5.4.6)", Network, false},
		{"", "550 5.1.1 RESOLVER.ADR.RecipNotFound; not found", UserUnknown, true},
		{"", "501 5.5.4 Syntax error in parameters or arguments", Other, false},
		{"", "421 4.3.0 Temporary System Problem. Try again later.", Other, false},
		{"", "452 4.3.1 Insufficient system resources", MailboxFull, false},
		// Exim's default ACL refusal; sisimai lists it as a refused sender.
		{"", "550 Administrative prohibition", PolicyAuth, false},
		{"", "Deferred: 451 4.4.1 reply: read error from mx.example.org.", Network, false},
		{"", "550 Benutzer unbekannt", UserUnknown, true},
		{"", "550 Utilisateur inconnu", UserUnknown, true},
		{"", "552 Postfach ist voll", MailboxFull, false},
		{"", "", Other, false},
	} {
		class, hard := Classify(tc.status, tc.text)
		if class != tc.class || hard != tc.hard {
			t.Errorf("Classify(%q, %q) = %s/%v, want %s/%v", tc.status, tc.text, class, hard, tc.class, tc.hard)
		}
	}
}

func TestExplain(t *testing.T) {
	for _, tc := range []struct {
		text, class, side string
		hard              bool
		advice            string // a part of the advice
	}{
		{"450 4.1.1 <bob@example.org>: Recipient address rejected: User unknown", UserUnknown, SideSenderUser, true, "The reply (450 4.1.1) says the mailbox does not exist"},
		{"554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org", SpamBlocked, SideSenderAdmin, false, "The reply (554 5.7.1) refuses the sending server's IP"},
		{"550 5.7.1 Message content rejected", SpamBlocked, SideRecipientAdmin, false, "content or policy filter"},
		{"550 5.7.26 Unauthenticated email from example.org is not accepted due to domain's DMARC policy", PolicyAuth, SideSenderAdmin, false, "SPF record"},
		{"451 4.3.0 Temporary lookup failure", Network, SideNobody, false, "is temporary"},
		{"452 4.2.2 Mailbox full", MailboxFull, SideNobody, false, "(452 4.2.2) is temporary"},
		{"552 5.2.2 Mailbox full", MailboxFull, SideRecipientAdmin, false, "mailbox (or their server's storage) is full"},
		// Yahoo's TSS04: the sender's complaint rate, not the content.
		{"421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints", SpamBlocked, SideSenderAdmin, false, "blocklist or reputation"},
		{"550 5.4.1 Recipient address rejected: Access denied", UserUnknown, SideSenderUser, true, "does not exist"},
	} {
		e := Explain("", tc.text)
		if e.Class != tc.class || e.Side != tc.side || e.Hard != tc.hard || !strings.Contains(e.Advice, tc.advice) {
			t.Errorf("Explain(%q) = %+v, want %s/%v side %s, advice with %q", tc.text, e, tc.class, tc.hard, tc.side, tc.advice)
		}
	}
}

// TestExplainHeldOut measures explain on real reply lines it was not
// written against: the diagnostics of the held-out bounces (as the reader
// extracts them) and sisimai's example reply per reason.
func TestExplainHeldOut(t *testing.T) {
	var right, total int
	set := loadExpectations(t, "sisimai-heldout.tsv")
	for file, exps := range set {
		if exps[0].class == "" {
			continue
		}
		rep, err := Parse(strings.NewReader(string(readSample(t, "sisimai", file))))
		if err != nil {
			continue
		}
		fs := rep.Failed()
		for i, e := range exps {
			if i >= len(fs) || fs[i].Diagnostic == "" {
				continue
			}
			total++
			if Explain("", fs[i].Diagnostic).Class == e.class {
				right++
			}
		}
	}
	for _, c := range readTSV(t, "sisimai-replies.tsv", 2) {
		reason, line := c[0], c[1]
		total++
		if Explain("", line).Class == reasonClass[reason] {
			right++
		}
	}
	pct := 100 * float64(right) / float64(total)
	t.Logf("explain: right class for %d of %d held-out reply lines (%.1f%%, target %.0f%%)", right, total, pct, explainTarget)
	if pct < explainFloor {
		t.Errorf("explain: right class for %.1f%% of held-out reply lines, below the floor %.0f%%", pct, explainFloor)
	}
}
