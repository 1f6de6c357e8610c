package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
	"time"
)

func runWithStdin(stdin string, args ...string) (int, string, string) {
	var out, errs bytes.Buffer
	var code int
	switch args[0] {
	case "dsn":
		code = cmdDSN(args[1:], strings.NewReader(stdin), &out, &errs)
	case "explain":
		code = cmdExplain(args[1:], strings.NewReader(stdin), &out, &errs)
	case "trace":
		code = traceWith(args[1:], strings.NewReader(stdin), &out, &errs, func() time.Time {
			return time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
		})
	}
	return code, out.String(), errs.String()
}

func TestDSNCommand(t *testing.T) {
	code, out, errs := runWithStdin("", "dsn", "../../testdata/dsn/sisimai/rhost-google-02.eml", "../../testdata/dsn/sisimai/arf-01.eml", "../../testdata/dsn/sisimai/rfc3834-01.eml", "missing.eml")
	if code != 1 || !strings.Contains(errs, "mailsift dsn: open missing.eml: no such file or directory") {
		t.Errorf("exit %d, stderr %q: want 1 and the missing file named", code, errs)
	}
	want := `{"file":"../../testdata/dsn/sisimai/rhost-google-02.eml","recipient":"neko-nyaan@example.org","status":"5.1.1","class":"user-unknown","hard":true,"remote_mta":"aspmx.l.google.com","diagnostic":"550-5.1.1 The email account that you tried to reach does not exist. Please try 550-5.1.1 double-checking the recipient's email address for typos or 550-5.1.1 unnecessary spaces. Learn more at 550 5.1.1 https://support.google.com/mail/?p=NoSuchUser e22-n7GpZmsf093195.222 - gsmtp"}
{"file":"../../testdata/dsn/sisimai/arf-01.eml","bounce":false,"kind":"feedback-report"}
{"file":"../../testdata/dsn/sisimai/rfc3834-01.eml","bounce":false,"kind":"autoreply"}
`
	if out != want {
		t.Errorf("got\n%s\nwant\n%s", out, want)
	}
	raw, err := os.ReadFile("../../testdata/dsn/sisimai/lhost-qmail-01.eml")
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ = runWithStdin(string(raw), "dsn", "-")
	if code != 0 || out != `{"file":"-","recipient":"kijitora@example.ne.jp","status":"5.5.0","class":"user-unknown","hard":true,"remote_mta":"192.0.2.32","diagnostic":"550 Unknown user kijitora@example.ne.jp . (#5.5.0) (Other MXes tried: 192.0.2.32 said 550 for RCPT TO response; 192.0.2.40 said 550 for RCPT TO response; 192.0.2.12 said 550 for RCPT TO response; 192.0.2.24 said 550 for RCPT TO response.)"}`+"\n" {
		t.Errorf("stdin: %d %s", code, out)
	}
	if code, _, _ := runWithStdin("", "dsn"); code != 2 {
		t.Errorf("no file: exit %d, want 2", code)
	}
}

func TestExplainCommand(t *testing.T) {
	code, out, _ := runWithStdin("", "explain", "--json", "550 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org")
	want := `{"class":"spam-blocked","hard":false,"side":"sender-admin","advice":"The reply (550 5.7.1) refuses the sending server's IP or domain (blocklist or reputation). Look the IP up in the named list, fix the cause (compromised account, open relay, missing PTR), request delisting, and ask the receiving administrator if the refusal persists."}` + "\n"
	if code != 0 || out != want {
		t.Errorf("--json: %d\n%s\nwant\n%s", code, out, want)
	}
	code, out, _ = runWithStdin("450 4.1.1 <bob@example.org>: Recipient address rejected: User unknown\n", "explain")
	if code != 0 || !strings.HasPrefix(out, "class:     user-unknown (hard: the address is dead)\nside:      sender-user\nadvice:    The reply (450 4.1.1) says") {
		t.Errorf("stdin: %d %q", code, out)
	}
	code, out, _ = runWithStdin("", "explain", "../../testdata/dsn/sisimai/rhost-google-02.eml")
	if code != 0 || !strings.HasPrefix(out, "recipient: neko-nyaan@example.org\nclass:     user-unknown (hard: the address is dead)\n") {
		t.Errorf("eml: %d %q", code, out)
	}
	code, out, _ = runWithStdin("", "explain", "../../testdata/dsn/sisimai/arf-01.eml")
	if code != 0 || out != "not a bounce: feedback-report\n" {
		t.Errorf("arf: %d %q", code, out)
	}
}

func TestTraceCommand(t *testing.T) {
	code, out, errs := runWithStdin("", "trace", "--mailsift", "../../testdata/trace/mailsift.json", "../../testdata/trace/maillog", "--to", "bob@example.test", "--since", "2026-11-29 00:00")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(out, "message 5799A9887F2 <trace-ok@checks.test>\n") || !strings.Contains(out, "message NOQUEUE\n") {
		t.Errorf("want the delivered message and the refusal to bob:\n%s", out)
	}
	raw, _ := os.ReadFile("../../testdata/trace/relay.log")
	code, out, _ = runWithStdin(string(raw), "trace", "--id", "7C7C7C7C7C")
	if code != 0 || !strings.Contains(out, "outcome   bounced") {
		t.Errorf("stdin: %d %s", code, out)
	}
	if code, _, errs := runWithStdin("", "trace", "x.log"); code != 2 || !strings.Contains(errs, "say which message") {
		t.Errorf("no selection: %d %q", code, errs)
	}
	if code, _, errs := runWithStdin("", "trace", "--since", "yesterday-ish", "--id", "X"); code != 2 || !strings.Contains(errs, `--since: want 2006-01-02 15:04, RFC 3339 or a duration such as 2h, got "yesterday-ish"`) {
		t.Errorf("bad --since: %d %q", code, errs)
	}
}
