package milter

import (
	"context"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	gomilter "github.com/d--j/go-milter"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/dmarcreport"
	"github.com/mailsift/mailsift/internal/policy"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/resolver/dnstest"
	"github.com/mailsift/mailsift/internal/settings"
)

// dmarcReportRuntime is the default configuration's spf, dkim and dmarc
// checks with DMARC reports on, a memory store, and dmarc@reports.test as
// our rua address (testdata/zones/dmarcreports.test.zone).
func dmarcReportRuntime(t *testing.T, mode policy.Mode) (*Runtime, *dmarcreport.Memory) {
	t.Helper()
	srv := dnstest.Start(t)
	if err := srv.LoadDir("../testdata/zones"); err != nil {
		t.Fatal(err)
	}
	res, err := resolver.New(resolver.Config{Servers: []string{srv.Addr}, Timeout: time.Second, Attempts: 2})
	if err != nil {
		t.Fatal(err)
	}
	cfg := settings.Default()
	ck := &cfg.Checks
	chain := checks.NewChain(time.Duration(ck.Timeout), time.Now,
		&checks.SPF{DNS: checks.NetResolver{R: res}, Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")},
		&checks.DKIM{DNS: checks.NetResolver{R: res}, Max: ck.DKIM.MaxSignatures},
		&checks.DMARC{DNS: checks.NetResolver{R: res}, Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"),
			FromInvalid: ck.DMARC.Reply("dmarc", "from"), ListHosts: []string{"lists.example"}},
	)
	pol := cfg.Policy()
	pol.Mode = mode
	st := &dmarcreport.Memory{}
	return &Runtime{Hostname: "mx.mailsift.test", Chain: chain, Policy: pol,
		TrustedNets: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
		DMARC:       &DMARCReports{Store: st, DNS: res, Record: true, RUA: []string{"dmarc@reports.test"}}}, st
}

// sendMessage sends one message from 192.0.2.10 (good.checks.test) and
// returns the end-of-message reply, "" for accept.
func sendMessage(t *testing.T, f *fixture, mailFrom, rcpt, from string, extra [][2]string, body string) string {
	t.Helper()
	s := f.session(t, "192.0.2.10", "{client_name}", "good.checks.test", "{client_ptr}", "good.checks.test")
	defer s.Close()
	cont(t)(s.Helo("mail.checks.test"))
	cont(t)(s.Mail(mailFrom))
	cont(t)(s.Rcpt(rcpt))
	hdrs := append([][2]string{{"From", " <" + from + ">"}, {"To", " <" + rcpt + ">"}, {"Subject", " test"}, {"Message-Id", " <" + mailFrom + ">"}}, extra...)
	for _, h := range hdrs {
		cont(t)(s.Header(h[0], h[1]))
	}
	_, act, err := s.End([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	switch act.Type {
	case gomilter.ActionAccept, gomilter.ActionContinue:
		return ""
	case gomilter.ActionRejectWithCode:
		return act.SMTPReply
	}
	t.Fatalf("end of message: action %v", act)
	return ""
}

// Each inbound message's DMARC evaluation is kept for the aggregate report
// with what was done to it: accepted (none), refused at the end of the
// message (reject, RFC 7489 reports those too), tagged as failing a
// quarantine policy (quarantine), not enforced for a mailing list that its
// SPF pass authenticates (none, mailing_list); a List-Id that nothing
// authenticates is any message's: refused. A domain without rua gets no
// record.
func TestDMARCEvaluationsRecorded(t *testing.T) {
	rt, st := dmarcReportRuntime(t, policy.Enforce)
	f := start(t, rt)

	if r := sendMessage(t, f, "alice@reports.test", "bob@example.test", "alice@reports.test", nil, "Hello.\r\n"); r != "" {
		t.Fatalf("aligned SPF: %q", r)
	}
	const want = "550 5.7.1 Email rejected per DMARC policy for reports.test"
	if r := sendMessage(t, f, "x@checks.test", "bob@example.test", "ceo@reports.test", nil, "Pay.\r\n"); r != want {
		t.Fatalf("spoof: %q, want %q", r, want)
	}
	if r := sendMessage(t, f, "y@checks.test", "bob@example.test", "news@quarantine.reports.test", nil, "News.\r\n"); r != "" {
		t.Fatalf("quarantine: %q", r)
	}
	if r := sendMessage(t, f, "talk-bounces@lists.example", "bob@example.test", "ceo@reports.test", [][2]string{{"List-Id", " Talk <talk.lists.example>"}}, "List.\r\n"); r != "" {
		t.Fatalf("mailing list: %q", r)
	}
	if r := sendMessage(t, f, "z@checks.test", "bob@example.test", "ceo@reports.test", [][2]string{{"List-Id", " Talk <talk.lists.example>"}}, "Forged.\r\n"); r != want {
		t.Fatalf("forged List-Id: %q, want %q", r, want)
	}
	if r := sendMessage(t, f, "w@checks.test", "bob@example.test", "a@norua.reports.test", nil, "No rua.\r\n"); r != want[:len(want)-len("reports.test")]+"norua.reports.test" {
		t.Fatalf("norua: %q", r)
	}
	logs := f.logs.waitRecords(t, 6)
	for i, want := range []string{"dmarc-override", "dmarc-fail-reject"} {
		if got := logs[3+i]["mailsift.checks.dmarc.reason"]; got != want {
			t.Errorf("log %d: dmarc reason %v, want %s", 3+i, got, want)
		}
	}

	recs, _ := st.Records(context.Background(), time.Time{}, time.Now().Add(time.Hour))
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5: %+v", len(recs), recs)
	}
	type got struct {
		from, policyDomain, envFrom, disp string
		spf, dkim                         bool
		reasons                           string
	}
	wantRecs := []got{
		{"reports.test", "reports.test", "reports.test", "none", true, false, ""},
		{"reports.test", "reports.test", "checks.test", "reject", false, false, ""},
		{"quarantine.reports.test", "quarantine.reports.test", "checks.test", "quarantine", false, false, ""},
		{"reports.test", "reports.test", "lists.example", "none", false, false, "mailing_list"},
		{"reports.test", "reports.test", "checks.test", "reject", false, false, ""},
	}
	for i, r := range recs {
		g := got{r.HeaderFrom, r.PolicyDomain, r.EnvelopeFrom, r.Disposition, r.SPFAligned, r.DKIMAligned, strings.Join(r.Reasons, ",")}
		if g != wantRecs[i] || r.SourceIP != netip.MustParseAddr("192.0.2.10") || r.EnvelopeTo != "example.test" || len(r.Policy.RUA) != 1 {
			t.Errorf("record %d: %+v\nwant %+v", i, r, wantRecs[i])
		}
	}
	if c := recs[3].Comment; c != "mailing list lists.example (SPF pass for lists.example)" {
		t.Errorf("mailing list's comment %q", c)
	}
}

// In observe mode nothing is refused: the failing message's disposition is
// none, with local_policy and what softened it.
func TestDMARCEvaluationObserveMode(t *testing.T) {
	rt, st := dmarcReportRuntime(t, policy.Observe)
	f := start(t, rt)
	if r := sendMessage(t, f, "x@checks.test", "bob@example.test", "ceo@reports.test", nil, "Pay.\r\n"); r != "" {
		t.Fatalf("observe: %q", r)
	}
	f.logs.waitRecords(t, 1)
	recs, _ := st.Records(context.Background(), time.Time{}, time.Now().Add(time.Hour))
	if len(recs) != 1 || recs[0].Disposition != "none" || strings.Join(recs[0].Reasons, ",") != "local_policy" ||
		recs[0].Comment != "policy reject softened to log by mode" {
		t.Fatalf("records: %+v", recs)
	}
}

// A real aggregate report mailed to our rua address is read at the end of
// the message: its rows are kept and logged, and the message is delivered.
func TestDMARCReportToRUARead(t *testing.T) {
	rt, st := dmarcReportRuntime(t, policy.Enforce)
	f := start(t, rt)
	raw, err := os.ReadFile("../testdata/dmarc/aggregate/twilight.eml")
	if err != nil {
		t.Fatal(err)
	}
	msg := strings.ReplaceAll(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n", "\r\n")
	head, body, _ := strings.Cut(msg, "\r\n\r\n")
	var hdrs [][2]string
	for _, line := range strings.Split(head, "\r\n") {
		if len(hdrs) > 0 && (strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")) {
			hdrs[len(hdrs)-1][1] += "\r\n" + line
			continue
		}
		k, v, _ := strings.Cut(line, ":")
		hdrs = append(hdrs, [2]string{k, v})
	}
	s := f.session(t, "127.0.0.1") // trusted: reports are read from any client
	defer s.Close()
	cont(t)(s.Helo("mail.reporter.test"))
	cont(t)(s.Mail("noreply-dmarc-support@google.com"))
	cont(t)(s.Rcpt("<DMARC@reports.test>"))
	for _, h := range hdrs {
		cont(t)(s.Header(h[0], h[1]))
	}
	if _, act, err := s.End([]byte(body)); err != nil || (act.Type != gomilter.ActionAccept && act.Type != gomilter.ActionContinue) {
		t.Fatalf("end: %v %v", act, err)
	}
	f.logs.waitRecords(t, 1)
	rows, _ := st.Rows(context.Background(), time.Time{})
	if len(rows) == 0 || rows[0].PolicyDomain != "twlnet.com" || rows[0].Reporter != "google.com" {
		t.Fatalf("rows: %+v", rows)
	}
	f.logs.mu.Lock()
	logs := f.logs.b.String()
	f.logs.mu.Unlock()
	if !strings.Contains(logs, `"message":"dmarc aggregate report"`) || !strings.Contains(logs, `"mailsift.dmarc.policy_domain":"twlnet.com"`) {
		t.Fatalf("log lacks the report:\n%s", logs)
	}
}

// Reading mail to a rua address needs the body, also when no check reads
// it.
func TestDMARCRUANegotiatesBody(t *testing.T) {
	rt := testRuntime(policy.Enforce)
	if rt.protocol()&gomilter.OptNoBody == 0 {
		t.Fatal("body asked for without a reader")
	}
	rt.DMARC = &DMARCReports{Store: &dmarcreport.Memory{}, Record: true}
	if rt.protocol()&gomilter.OptNoBody == 0 {
		t.Fatal("body asked for with reports on and no rua address")
	}
	rt.DMARC.RUA = []string{"dmarc@reports.test"}
	if rt.protocol()&gomilter.OptNoBody != 0 {
		t.Fatal("no body with a rua address")
	}
}
