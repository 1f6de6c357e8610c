package checks

import (
	"bytes"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

// TestDKIMRefusesBodyLength: a signature with l= never authenticates the
// message: anything after the signed length could have been appended.
func TestDKIMRefusesBodyLength(t *testing.T) {
	r, _ := testDNS(t)
	d := &DKIM{DNS: NetResolver{R: r}, Max: 5}
	msg := sign(t, testMessage, "ed25519", loadKey(t, "../testdata/dkim/ed25519.pem"), dkim.CanonicalizationRelaxed)
	if !bytes.Contains(msg, []byte(" v=1;")) {
		t.Fatalf("no v=1 in %q", msg)
	}
	msg = bytes.Replace(msg, []byte(" v=1;"), []byte(" v=1; l=10;"), 1)
	res := verify(d, append(msg, "appended by someone else\r\n"...), 4096)
	if res.Status != Fail || !strings.Contains(res.Text, "body length") {
		t.Fatalf("l= signature: %s (%s), want fail for the body length tag", res.Status, res.Text)
	}
	if got := FormatAuthRes("mx.mailsift.test", res.AuthRes); got != `mx.mailsift.test; dkim=fail reason="message contains an insecure body length tag" header.d=signed.test header.i=@signed.test` {
		t.Fatalf("Authentication-Results = %q", got)
	}
}
