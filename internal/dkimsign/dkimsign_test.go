package dkimsign

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const msg = "From: Alice <alice@site.test>\r\nTo: bob@example.test\r\nSubject: hello  there\r\n" +
	"Message-ID: <1@site.test>\r\nX-Not-Signed: yes\r\n\r\nHello,\r\n  world.\r\n\r\n\r\n"

// sign streams msg through a Stream in small pieces and returns the
// message with the signature field in front.
func sign(t *testing.T, k *Key, m string) string {
	t.Helper()
	st, err := NewStream(k, []string{"From", "To", "Subject", "Message-ID", "X-Not-Signed"})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(m); i += 7 {
		st.Write([]byte(m[i:min(i+7, len(m))]))
	}
	v, err := st.Finish()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "\r") {
		t.Fatalf("signature value has CR: %q", v)
	}
	return "DKIM-Signature: " + strings.ReplaceAll(v, "\n", "\r\n") + "\r\n" + m
}

func verify(t *testing.T, k *Key, signed string) *dkim.Verification {
	t.Helper()
	name, txt, err := TXT(k)
	if err != nil {
		t.Fatal(err)
	}
	vs, err := dkim.VerifyWithOptions(strings.NewReader(signed), &dkim.VerifyOptions{LookupTXT: func(n string) ([]string, error) {
		if n != name {
			t.Errorf("looked up %s, want %s", n, name)
		}
		return []string{txt}, nil
	}})
	if err != nil || len(vs) != 1 {
		t.Fatalf("verify: %v, %d verifications", err, len(vs))
	}
	return vs[0]
}

func TestSignVerifies(t *testing.T) {
	for _, typ := range []string{"rsa", "ed25519"} {
		t.Run(typ, func(t *testing.T) {
			dir := t.TempDir()
			k, err := WriteKey(dir, "Site.Test.", "sel1", typ)
			if err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Stat(filepath.Join(dir, "site.test.sel1.key")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("key file: %v, mode %v, want 0600", err, fi.Mode())
			}
			ks, errs, err := LoadDir(dir)
			if err != nil || len(errs) > 0 {
				t.Fatal(err, errs)
			}
			lk := ks.For("mail.site.test")
			if lk == nil || lk.Domain != "site.test" || lk.Selector != "sel1" || lk.Algorithm() != typ {
				t.Fatalf("For(mail.site.test) = %+v", lk)
			}
			signed := sign(t, k, msg)
			v := verify(t, lk, signed)
			if v.Err != nil || v.Domain != "site.test" {
				t.Fatalf("verification: %+v", v)
			}
			for _, want := range []string{"c=relaxed/relaxed", "h=From:From:Subject:To:Message-ID;", "a=" + typ + "-sha256", "s=sel1", "d=site.test"} {
				if !strings.Contains(strings.ReplaceAll(strings.ReplaceAll(signed[:strings.Index(signed, "\r\nFrom:")], "\r\n", ""), " ", ""),
					strings.ReplaceAll(want, " ", "")) {
					t.Errorf("signature lacks %s:\n%s", want, signed)
				}
			}
			// The From is oversigned: a second From breaks the signature.
			forged := strings.Replace(signed, "\r\n\r\nHello", "\r\nFrom: mallory@evil.test\r\n\r\nHello", 1)
			if v := verify(t, lk, forged); v.Err == nil {
				t.Fatal("a From added after signing still verifies")
			}
			// Relaxed body: trailing blank lines and inner whitespace may change.
			relaxed := strings.Replace(signed, "  world.\r\n\r\n\r\n", " world.\r\n", 1)
			if v := verify(t, lk, relaxed); v.Err != nil {
				t.Fatalf("relaxed body change broke it: %v", v.Err)
			}
			if _, err := WriteKey(dir, "site.test", "sel1", typ); err == nil || !strings.Contains(err.Error(), "exists") {
				t.Fatalf("overwrite: %v", err)
			}
		})
	}
}

func TestLoadDirReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	if _, err := WriteKey(dir, "good.test", "a", "ed25519"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "bad.test.a.key"), []byte("not a key"), 0o600)
	os.WriteFile(filepath.Join(dir, "nodomain.key"), []byte("x"), 0o600)
	os.WriteFile(filepath.Join(dir, "README"), []byte("ignored"), 0o600)
	ks, errs, err := LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), "bad.test.a.key: no PEM block") ||
		!strings.Contains(errs[1].Error(), "nodomain.key: want a file named DOMAIN.SELECTOR.key") {
		t.Fatalf("errs = %v", errs)
	}
	if got := strings.Join(ks.Domains(), ","); got != "good.test" {
		t.Fatalf("domains = %s", got)
	}
	if ks.For("bad.test") != nil || ks.For("test") != nil || ks.For("other.test") != nil {
		t.Fatal("a key for a domain without a good key")
	}
	if _, _, err := LoadDir(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Fatalf("missing dir: %v", err)
	}
}

func TestParsePEMRefusesSmallRSA(t *testing.T) {
	if _, err := ParsePEM([]byte("-----BEGIN EC PRIVATE KEY-----\nAAAA\n-----END EC PRIVATE KEY-----\n")); err == nil ||
		!strings.Contains(err.Error(), `want "PRIVATE KEY" or "RSA PRIVATE KEY"`) {
		t.Fatalf("EC key: %v", err)
	}
}

func TestHeaderKeys(t *testing.T) {
	got := strings.Join(HeaderKeys([]string{"Received", "from", "To", "to", "X-Foo"}), ":")
	if got != "From:From:To:To" {
		t.Fatalf("HeaderKeys = %s", got)
	}
	if got := strings.Join(HeaderKeys(nil), ":"); got != "From" {
		t.Fatalf("HeaderKeys(nil) = %s", got)
	}
}

func FuzzParsePEM(f *testing.F) {
	f.Add([]byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParsePEM(b)
		if (s == nil) == (err == nil) {
			t.Fatalf("ParsePEM = %v, %v", s, err)
		}
	})
}
