package dsn

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func FuzzParse(f *testing.F) {
	for _, name := range []string{"lhost-postfix-01.eml", "lhost-qmail-01.eml", "lhost-exim-01.eml", "lhost-gmail-01.eml", "arf-01.eml", "lhost-amazonses-09.eml", "rfc3834-01.eml", "rfc3464-28.eml", "lhost-domino-02.eml"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dsn", "sisimai", name))
		if err == nil {
			f.Add(b)
		}
	}
	for _, name := range []string{"dsn_05.txt", "qmail_01.txt", "yahoo_06.txt"} {
		b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "dsn", "flufl", name))
		if err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("From: a@b\n\nx"))
	f.Add([]byte("Content-Type: multipart/report; boundary=x\n\n--x\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b\nAction: failed\nStatus: 5.1.1\n--x--\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Parse(strings.NewReader(string(b)))
		if err != nil {
			return
		}
		for _, rc := range r.Recipients {
			if rc.Class != "" && !validClass(rc.Class) {
				t.Fatalf("class %q not in the list", rc.Class)
			}
			if rc.Hard != IsHard(rc.Class) {
				t.Fatalf("hard %v for class %s", rc.Hard, rc.Class)
			}
		}
		Explain("", string(b))
	})
}

func validClass(c string) bool {
	for _, k := range Classes {
		if k == c {
			return true
		}
	}
	return false
}
