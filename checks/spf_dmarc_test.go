package checks_test

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/internal/policy"
	"github.com/mailsift/mailsift/internal/resolver"
	"github.com/mailsift/mailsift/internal/settings"
)

// spfAndDMARC builds the spf and dmarc checks asking r, with the replies
// that file (a mailsift.toml) gives them, and the file's policy.
func spfAndDMARC(t *testing.T, r *resolver.Resolver, file string) (*checks.SPF, *checks.DMARC, *policy.Policy) {
	t.Helper()
	cfg, err := settings.Parse("mailsift.toml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	ck := &cfg.Checks
	spf := &checks.SPF{DNS: checks.NetResolver{R: r}, Fail: ck.SPF.Reply("spf", "perm"), Temp: ck.SPF.Reply("spf", "temp")}
	dmarc := &checks.DMARC{DNS: checks.NetResolver{R: r}, Rand: func(int) int { return 0 },
		Reject: ck.DMARC.Reply("dmarc", "perm"), Temp: ck.DMARC.Reply("dmarc", "temp"), FromInvalid: ck.DMARC.Reply("dmarc", "from")}
	return spf, dmarc, cfg.Policy()
}

// With [checks.spf.actions] fail = "reject", an SPF fail is refused only
// when the domain's DMARC policy is known not to enforce; when that
// policy enforces, or cannot be looked up now, DMARC decides, and for a
// lookup that failed it tempfails: a temporary error never becomes a 550.
func TestSPFFailLeftToDMARC(t *testing.T) {
	r, srv := checks.ZonesDNS(t)
	spf, dmarc, pol := spfAndDMARC(t, r, "[checks.spf.actions]\nfail = \"reject\"\n")
	srv.ServFail("_dmarc.dmarctemp.spf.test")

	for _, tc := range []struct {
		domain          string
		spfReason       string
		spfAction       policy.Action
		spfReply        string
		dmarcAction     policy.Action
		dmarcReplyClass int
		dmarcStatus     checks.Status
	}{
		// The DMARC record cannot be looked up: SPF leaves it to DMARC,
		// which tempfails.
		{domain: "dmarctemp.spf.test", spfReason: "spf-fail-dmarc-decides", spfAction: policy.Log,
			dmarcAction: policy.Tempfail, dmarcReplyClass: 4, dmarcStatus: checks.TempError},
		// p=reject: DMARC decides, and rejects.
		{domain: "dmarcreject.spf.test", spfReason: "spf-fail-dmarc-decides", spfAction: policy.Log,
			dmarcAction: policy.Reject, dmarcReplyClass: 5, dmarcStatus: checks.Fail},
		// p=none: SPF's own action applies.
		{domain: "dmarcnone.spf.test", spfReason: "spf-fail", spfAction: policy.Reject,
			spfReply: "550 5.7.23 SPF validation failed for <anna@dmarcnone.spf.test>"},
	} {
		env := &checks.Envelope{ClientIP: netip.MustParseAddr("192.0.2.11"), Helo: "mail.example.test", From: "anna@" + tc.domain,
			Headers: []checks.Header{{Name: "From", Value: "Anna <anna@" + tc.domain + ">"}}}
		// The chain runs SPF and lets DMARC amend its fail, as the session does.
		rs := checks.NewChain(time.Second, time.Now, spf, dmarc).Run(context.Background(), checks.StageMail, env)
		if len(rs) != 1 {
			t.Fatalf("%s: %d results at MAIL, want spf's alone", tc.domain, len(rs))
		}
		res := rs[0]
		d := pol.Decide(res)
		if res.Status != checks.Fail || res.Reason != tc.spfReason || d.Action != tc.spfAction {
			t.Errorf("%s: spf %s %s, action %s; want fail %s, action %s", tc.domain, res.Status, res.Reason, d.Action, tc.spfReason, tc.spfAction)
		}
		if tc.spfReply != "" && d.Reply.String() != tc.spfReply {
			t.Errorf("%s: spf reply %q, want %q", tc.domain, d.Reply, tc.spfReply)
		}
		if tc.dmarcAction == "" {
			continue
		}
		env.Take(res)
		dr := dmarc.CheckData(context.Background(), env)
		dr.Check = "dmarc"
		dd := pol.Decide(dr)
		if dr.Status != tc.dmarcStatus || dd.Action != tc.dmarcAction || dd.Reply.Code/100 != tc.dmarcReplyClass {
			t.Errorf("%s: dmarc %s (%s), action %s, reply %q; want %s, action %s, a %dxx reply",
				tc.domain, dr.Status, dr.Text, dd.Action, dd.Reply, tc.dmarcStatus, tc.dmarcAction, tc.dmarcReplyClass)
		}
	}
}

// An SPF fail left to DMARC at MAIL FROM is DMARC's only when the header
// From aligns (relaxed) with the failing domain: DMARC then evaluates the
// policy that made SPF stand back. For any other From DMARC judges another
// domain, or none, and never this fail, so at the end of the message the
// spf check's own action applies, with its own reply.
func TestSPFFailLeftToDMARCNeedsAlignedFrom(t *testing.T) {
	r, srv := checks.ZonesDNS(t)
	srv.ServFail("_dmarc.tempdmarc.test")
	for _, tc := range []struct {
		name, toml, mailFrom string
		from                 []string // the From headers' values
		// The end of the message: the spf check's result, if any, and
		// the refusal the policy gives ("" for none).
		spfReason, spfAction string
		reply                string
	}{
		{name: "aligned, p=reject: DMARC rejects", toml: "[checks.spf.actions]\nfail = \"reject\"\n",
			mailFrom: "anna@bounce.enforced.test", from: []string{"Anna <anna@enforced.test>"},
			reply: "550 5.7.1 Email rejected per DMARC policy for enforced.test"},
		{name: "not aligned, From without DMARC: SPF rejects", toml: "[checks.spf.actions]\nfail = \"reject\"\n",
			mailFrom: "anna@enforced.test", from: []string{"Anna <anna@nodmarc.test>"},
			spfReason: "spf-fail", spfAction: "reject",
			reply: "550 5.7.23 SPF validation failed for <anna@enforced.test>: 192.0.2.11 may not send for enforced.test"},
		{name: "not aligned, SPF's default action: logged", toml: "",
			mailFrom: "anna@enforced.test", from: []string{"Anna <anna@nodmarc.test>"},
			spfReason: "spf-fail", spfAction: "log"},
		{name: "two From headers: nothing to align with, SPF rejects", toml: "[checks.spf.actions]\nfail = \"reject\"\n[checks.dmarc.actions]\npermerror = \"log\"\n",
			mailFrom: "anna@enforced.test", from: []string{"anna@enforced.test", "anna@nodmarc.test"},
			spfReason: "spf-fail", spfAction: "reject",
			reply: "550 5.7.23 SPF validation failed for <anna@enforced.test>: 192.0.2.11 may not send for enforced.test"},
		{name: "aligned, DMARC temperror: 451", toml: "[checks.spf.actions]\nfail = \"reject\"\n",
			mailFrom: "anna@tempdmarc.test", from: []string{"Anna <anna@tempdmarc.test>"},
			reply: "451 4.7.1 Temporary DNS failure evaluating DMARC for tempdmarc.test, try again later"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spf, dmarc, pol := spfAndDMARC(t, r, tc.toml)
			chain := checks.NewChain(time.Second, time.Now, spf, dmarc)
			env := &checks.Envelope{ClientIP: netip.MustParseAddr("192.0.2.11"), Helo: "mail.example.test", From: tc.mailFrom}
			for _, v := range tc.from {
				env.Headers = append(env.Headers, checks.Header{Name: "From", Value: v})
			}
			ctx := context.Background()
			// MAIL FROM: the fail is left to DMARC, and not refused.
			mail := chain.Run(ctx, checks.StageMail, env)
			if len(mail) != 1 || mail[0].Reason != checks.ReasonSPFFailDMARCDecides || !mail[0].SPF.LeftToDMARC || pol.Decide(mail[0]).Action.Refuses() {
				t.Fatalf("MAIL FROM: %+v, want spf-fail-dmarc-decides, not refused", mail)
			}
			env.Take(mail[0])
			// The end of the message, in the session's two rounds.
			var refusal policy.Decision
			var got []checks.Result
			for _, round := range []func(context.Context, checks.Stage, *checks.Envelope) []checks.Result{chain.Run, chain.RunAfter} {
				if refusal.Action != "" {
					break
				}
				for _, res := range round(ctx, checks.StageData, env) {
					got = append(got, res)
					if d := pol.Decide(res); d.Action.Refuses() && refusal.Action == "" {
						refusal = d
					}
				}
			}
			var spfRes *checks.Result
			for i := range got {
				if got[i].Check == "spf" {
					spfRes = &got[i]
				}
			}
			switch {
			case tc.spfReason == "" && spfRes != nil:
				t.Errorf("spf at the end of the message: %s %s (%s), want nothing: DMARC decides", spfRes.Status, spfRes.Reason, spfRes.Text)
			case tc.spfReason != "" && spfRes == nil:
				t.Errorf("spf at the end of the message: nothing, want %s", tc.spfReason)
			case tc.spfReason != "":
				if d := pol.Decide(*spfRes); spfRes.Status != checks.Fail || spfRes.Reason != tc.spfReason || string(d.Action) != tc.spfAction {
					t.Errorf("spf at the end of the message: %s %s, action %s; want fail %s, action %s", spfRes.Status, spfRes.Reason, d.Action, tc.spfReason, tc.spfAction)
				}
				if len(spfRes.AuthRes) != 1 {
					t.Errorf("spf at the end of the message: Authentication-Results %v, want its spf=fail entry", spfRes.AuthRes)
				}
			}
			line := ""
			if refusal.Action != "" {
				line = refusal.Reply.String()
			}
			if line != tc.reply {
				t.Errorf("end of message reply %q, want %q", line, tc.reply)
			}
		})
	}
}

// A check with exceptions that runs at MAIL FROM and at the end of the
// message reports its skip once, at MAIL FROM.
func TestSPFExceptionSkippedOnce(t *testing.T) {
	r, _ := checks.ZonesDNS(t)
	spf := &checks.SPF{DNS: checks.NetResolver{R: r}}
	chain := checks.NewChain(time.Second, time.Now, spf).Except("spf", &checks.Exceptions{Senders: []string{"enforced.test"}})
	env := &checks.Envelope{ClientIP: netip.MustParseAddr("192.0.2.11"), Helo: "mail.example.test", From: "anna@enforced.test",
		Headers: []checks.Header{{Name: "From", Value: "anna@nodmarc.test"}}}
	if rs := chain.Run(context.Background(), checks.StageMail, env); len(rs) != 1 || rs[0].Status != checks.Skipped {
		t.Fatalf("MAIL FROM: %+v, want spf skipped", rs)
	}
	if rs := chain.Run(context.Background(), checks.StageData, env); len(rs) != 0 {
		t.Fatalf("end of message: %+v, want nothing", rs)
	}
}
