package checks

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/mailsift/mailsift/internal/resolver"
)

func loadKey(t testing.TB, path string) crypto.Signer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(crypto.Signer)
}

const testMessage = "From: Alice <alice@signed.test>\r\nTo: bob@example.org\r\nSubject: signed\r\nMessage-Id: <s1@signed.test>\r\n\r\nHello,\r\n\r\nthis message is signed.\r\n"

// sign signs msg at test time with a key whose public half is in
// testdata/zones/auth.test.zone.
func sign(t testing.TB, msg, selector string, key crypto.Signer, canon dkim.Canonicalization) []byte {
	t.Helper()
	var b bytes.Buffer
	err := dkim.Sign(&b, strings.NewReader(msg), &dkim.SignOptions{Domain: "signed.test", Selector: selector, Signer: key,
		HeaderCanonicalization: canon, BodyCanonicalization: canon, HeaderKeys: []string{"From", "To", "Subject", "Message-Id"}})
	if err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func verify(d *DKIM, msg []byte, chunk int) Result {
	s := d.Stream(context.Background())
	for len(msg) > 0 {
		n := min(chunk, len(msg))
		s.Write(msg[:n])
		msg = msg[n:]
	}
	return s.Finish(context.Background())
}

func TestDKIM(t *testing.T) {
	r, srv := testDNS(t)
	srv.ServFail("tempkey._domainkey.signed.test")
	d := &DKIM{DNS: NetResolver{R: r}, Max: 5}
	rsaKey := loadKey(t, "../testdata/dkim/rsa.pem")
	edKey := loadKey(t, "../testdata/dkim/ed25519.pem")
	tests := []struct {
		name   string
		msg    []byte
		status Status
		ar     string
	}{
		{"rsa relaxed", sign(t, testMessage, "rsa2048", rsaKey, dkim.CanonicalizationRelaxed), Pass,
			"mx.mailsift.test; dkim=pass header.d=signed.test header.i=@signed.test"},
		{"ed25519 simple", sign(t, testMessage, "ed25519", edKey, dkim.CanonicalizationSimple), Pass, ""},
		{"body altered", bytes.Replace(sign(t, testMessage, "rsa2048", rsaKey, dkim.CanonicalizationRelaxed), []byte("is signed"), []byte("is forged"), 1), Fail, ""},
		{"key missing", sign(t, testMessage, "nokey", rsaKey, dkim.CanonicalizationRelaxed), PermError, ""},
		{"key lookup fails", sign(t, testMessage, "tempkey", rsaKey, dkim.CanonicalizationRelaxed), TempError, ""},
		{"unsigned", []byte(testMessage), None, "mx.mailsift.test; dkim=none"},
	}
	var written arHeaders
	defer written.check(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := verify(d, tt.msg, 7) // odd chunks: the stream must not care
			if res.Status != tt.status {
				t.Fatalf("status %s (%s), want %s", res.Status, res.Text, tt.status)
			}
			written.add(res.AuthRes)
			if tt.ar != "" {
				if got := FormatAuthRes("mx.mailsift.test", res.AuthRes); got != tt.ar {
					t.Fatalf("Authentication-Results = %q, want %q", got, tt.ar)
				}
			}
		})
	}
	// Two signatures, one good: pass, and both are reported.
	two := sign(t, string(sign(t, testMessage, "nokey", rsaKey, dkim.CanonicalizationRelaxed)), "ed25519", edKey, dkim.CanonicalizationRelaxed)
	if res := verify(d, two, 4096); res.Status != Pass || len(res.AuthRes) != 2 || res.DKIM == nil || len(res.DKIM.Signatures) != 2 ||
		!slices.Contains(res.DKIM.Signatures, DKIMSignature{Status: Pass, Domain: "signed.test"}) ||
		!slices.Contains(res.DKIM.Signatures, DKIMSignature{Status: PermError, Domain: "signed.test"}) {
		t.Fatalf("two signatures: %+v", res)
	}
	// An aborted message ends the verifier.
	s := d.Stream(context.Background())
	s.Write([]byte("From: a@b\r\n"))
	s.Abort()
}

// A 20 MB message is verified with bounded memory: halfway through, the
// heap holds a small fraction of the message, not a copy of it.
func TestDKIMBoundedMemory(t *testing.T) {
	r, _ := testDNS(t)
	d := &DKIM{DNS: NetResolver{R: r}, Max: 5}
	line := strings.Repeat("0123456789abcdefghij", 4) + "\r\n"
	body := strings.Repeat(line, 20<<20/len(line))
	msg := sign(t, strings.Replace(testMessage, "Hello,\r\n\r\nthis message is signed.\r\n", body, 1), "ed25519",
		loadKey(t, "../testdata/dkim/ed25519.pem"), dkim.CanonicalizationRelaxed)
	body = ""
	var before, mid runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	s := d.Stream(context.Background())
	half := len(msg) / 2
	for off := 0; off < len(msg); off += 64 << 10 {
		s.Write(msg[off:min(off+64<<10, len(msg))])
		if off <= half && half < off+64<<10 {
			runtime.GC()
			runtime.ReadMemStats(&mid)
		}
	}
	res := s.Finish(context.Background())
	if res.Status != Pass {
		t.Fatalf("status %s (%s)", res.Status, res.Text)
	}
	if held := int64(mid.HeapAlloc) - int64(before.HeapAlloc); held > 4<<20 {
		t.Fatalf("halfway through %d MB the heap grew by %d KB: the message is being buffered", len(msg)>>20, held>>10)
	}
}

// BenchmarkDKIMVerify is one signed message through the dkim check's
// stream, the key's TXT record in the resolver's cache: what a busy MX
// pays per message from a sender it has seen before.
func BenchmarkDKIMVerify(b *testing.B) {
	for _, tc := range []struct{ name, selector, key string }{
		{"rsa2048", "rsa2048", "../testdata/dkim/rsa.pem"},
		{"ed25519", "ed25519", "../testdata/dkim/ed25519.pem"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			_, srv := testDNS(b)
			r, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 1, CacheSize: 100})
			if err != nil {
				b.Fatal(err)
			}
			d := &DKIM{DNS: NetResolver{R: r}, Max: 5}
			msg := sign(b, testMessage, tc.selector, loadKey(b, tc.key), dkim.CanonicalizationRelaxed)
			if res := verify(d, msg, 4096); res.Status != Pass {
				b.Fatalf("result = %+v", res)
			}
			b.ReportAllocs()
			for b.Loop() {
				verify(d, msg, 4096)
			}
		})
	}
}
