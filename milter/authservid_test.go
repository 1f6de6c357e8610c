package milter

import (
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
)

// Forged Authentication-Results naming our authserv-id in any RFC 8601
// form are ours: a comment before the id, a quoted id, a trailing dot.
func TestIsOurs(t *testing.T) {
	for v, want := range map[string]bool{
		"mx.mailsift.test; dkim=pass":                     true,
		"(trusted) mx.mailsift.test; dkim=pass":           true,
		"(a (nested \\) comment)) MX.mailsift.test; none": true,
		`"mx.mailsift.test"; dmarc=pass`:                  true,
		`"mx.mailsift\.test" 1; dmarc=pass`:               true,
		"mx.mailsift.test.; spf=pass":                     true,
		"\r\n\tmx.mailsift.test\r\n\t; spf=pass":          true,
		"mx.mailsift.test(comment); spf=pass":             true,
		"other.example; spf=pass (mx.mailsift.test)":      false,
		"mx.mailsift.test.evil.example; spf=pass":         false,
		`"mx.mailsift.test; dkim=pass`:                    false,
		"(unterminated mx.mailsift.test; dkim=pass":       false,
		"":                           false,
		"sub.mx.mailsift.test; none": false,
	} {
		if got := isOurs(v, "mx.mailsift.test"); got != want {
			t.Errorf("isOurs(%q) = %v, want %v (authserv-id %q)", v, got, want, authServID(v))
		}
	}
}

// The forms reach the header edits: each forged field is removed.
func TestForgedAuthResultsFormsRemoved(t *testing.T) {
	f := start(t, testRuntime(policy.Enforce))
	s := f.session(t, "198.51.100.70")
	cont(t)(s.Helo("mail.sender.test"))
	cont(t)(s.Mail("a@sender.test"))
	cont(t)(s.Rcpt("b@example.test"))
	cont(t)(s.Header("Authentication-Results", "(trusted) mx.mailsift.test; dkim=pass"))
	cont(t)(s.Header("Authentication-Results", `"mx.mailsift.test"; dmarc=pass`))
	cont(t)(s.Header("Authentication-Results", "other.example; spf=pass"))
	cont(t)(s.Header("Authentication-Results", "mx.mailsift.test.; spf=pass"))
	mods, act, err := s.End(nil)
	wantAccept(t, act, err)
	want := "m 4 Authentication-Results=|m 2 Authentication-Results=|m 1 Authentication-Results="
	if got := strings.Join(fmtMods(mods), "|"); !strings.HasPrefix(got, want) {
		t.Fatalf("modifications %q, want first %q", got, want)
	}
}

// No space before ";" after a result without properties.
func TestFormatAuthRes(t *testing.T) {
	got := checks.FormatAuthRes("mx.mailsift.test", []authres.Result{&authres.DKIMResult{Value: authres.ResultNone},
		&authres.SPFResult{Value: authres.ResultPass, From: "sender.test"}})
	if want := "mx.mailsift.test; dkim=none; spf=pass smtp.mailfrom=sender.test"; got != want {
		t.Fatalf("Authentication-Results = %q, want %q", got, want)
	}
}
