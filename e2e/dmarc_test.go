package e2e

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

func signedMessage(t *testing.T, msg string) string {
	t.Helper()
	return dkimSign(t, "rsa.pem", &dkim.SignOptions{Domain: "signed.test", Selector: "rsa2048",
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed}, msg)
}

// dkimSign signs msg (LF line ends) with the key in testdata/dkim/keyFile
// and opts, and returns it with LF line ends.
func dkimSign(t *testing.T, keyFile string, opts *dkim.SignOptions, msg string) string {
	t.Helper()
	b, err := os.ReadFile("../testdata/dkim/" + keyFile)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM block", keyFile)
	}
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	opts.Signer = key.(crypto.Signer)
	var out bytes.Buffer
	if err := dkim.Sign(&out, strings.NewReader(strings.ReplaceAll(msg, "\n", "\r\n")), opts); err != nil {
		t.Fatal(err)
	}
	return strings.ReplaceAll(out.String(), "\r\n", "\n")
}

// DMARC through a real Postfix: a p=reject domain's mail without aligned
// authentication is refused at end of DATA with the exact line; a
// DKIM-signed message is delivered with our Authentication-Results and no
// forged one left.
func TestPostfixDMARC(t *testing.T) {
	m := startMailsift(t, postfixMilterConfig)
	p := startPostfix(t, m.addr)
	c := p.xclient(t, "192.0.2.10", "good.checks.test", "mail.checks.test")

	c.expect("250", "MAIL FROM:<alice@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	const want = "550 5.7.1 Email rejected per DMARC policy for reject.test"
	spoof := "From: Bank <security@reject.test>\nTo: <bob@example.test>\nSubject: verify your account\nMessage-Id: <spoof@checks.test>\n\nClick.\n"
	if got := c.data(spoof); got != want {
		t.Fatalf("spoofed From: %q, want %q", got, want)
	}
	wantFields(t, m.recordFor(t, "alice@checks.test"), map[string]any{
		"event.action": "reject", "mailsift.reply": want, "mailsift.checks.dmarc.status": "fail",
		"mailsift.checks.dmarc.reason": "dmarc-fail-reject", "mailsift.checks.dmarc.policy": "reject",
	})

	c.expect("250", "MAIL FROM:<alice2@checks.test>")
	c.expect("250", "RCPT TO:<bob@example.test>")
	msg := signedMessage(t, "From: Alice <alice@signed.test>\nTo: <bob@example.test>\nSubject: signed\nMessage-Id: <dkim1@signed.test>\n\nHello,\nthis is signed.\n")
	msg = "Authentication-Results: mx.mailsift.test; dkim=pass header.d=forged.test; dmarc=pass\n" + msg
	if got := c.data(msg); !strings.HasPrefix(got, "250 ") {
		t.Fatalf("signed message: %q", got)
	}
	c.expect("221", "QUIT")
	h := p.delivered(t, "dkim1@signed.test")
	ar := h.Values("Authentication-Results")
	const wantAR = "mx.mailsift.test; iprev=pass policy.iprev=192.0.2.10; spf=none smtp.mailfrom=alice2@checks.test; dkim=pass header.d=signed.test header.i=@signed.test; dmarc=pass header.from=signed.test policy.dmarc=reject"
	if len(ar) != 1 || ar[0] != wantAR {
		t.Fatalf("Authentication-Results = %q, want only %q", ar, wantAR)
	}
	wantFields(t, m.recordFor(t, "alice2@checks.test"), map[string]any{
		"event.action": "accept", "mailsift.checks.dkim.status": "pass", "mailsift.checks.dmarc.reason": "dmarc-pass",
	})
}
