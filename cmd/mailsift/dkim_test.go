package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mailsift/mailsift/internal/dkimsign"
)

func TestDKIMKeygen(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct{ typ, algo string }{{"rsa", "k=rsa"}, {"ed25519", "k=ed25519"}} {
		sel := "s" + c.typ
		code, out, errs := runCmd("dkim", "keygen", "--domain", "Example.ORG", "--selector", sel, "--type", c.typ, "--dir", dir)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", c.typ, code, errs)
		}
		path := filepath.Join(dir, "example.org."+sel+".key")
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v, mode %v", path, err, fi)
		}
		want := regexp.MustCompile(`^; wrote ` + regexp.QuoteMeta(path) + ` \(` + c.typ + `\); publish this record, then sign:\n` +
			sel + `\._domainkey\.example\.org\. IN TXT "v=DKIM1; ` + c.algo + `; p=[A-Za-z0-9+/=" ]+"\n$`)
		if !want.MatchString(out) {
			t.Fatalf("%s output:\n%s", c.typ, out)
		}
		// The printed record is the key's public half, split at 255 octets.
		k, err := dkimsign.LoadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		_, txt, _ := dkimsign.TXT(k)
		printed := out[strings.Index(out, "IN TXT ")+7 : len(out)-1]
		if got := strings.ReplaceAll(strings.ReplaceAll(printed, `" "`, ""), `"`, ""); got != txt {
			t.Fatalf("printed %q, key's record %q", got, txt)
		}
	}
	if code, _, errs := runCmd("dkim", "keygen", "--domain", "example.org", "--selector", "srsa", "--dir", dir); code != 1 || !strings.Contains(errs, "exists") {
		t.Fatalf("overwrite: exit %d %s", code, errs)
	}
	if code, _, errs := runCmd("dkim", "keygen", "--domain", "example.org", "--selector", "x", "--type", "dsa", "--dir", dir); code != 1 ||
		errs != "mailsift dkim keygen: key type \"dsa\": want rsa or ed25519\n" {
		t.Fatalf("bad type: exit %d %q", code, errs)
	}
	if code, _, _ := runCmd("dkim", "keygen", "--domain", "example.org"); code != 2 {
		t.Fatalf("no selector: exit %d", code)
	}
}
