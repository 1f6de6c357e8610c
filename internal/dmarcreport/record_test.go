package dmarcreport

import (
	"context"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailsift/mailsift/checks"
)

func TestRecordFromResult(t *testing.T) {
	res := testDNS(t)
	ctx := context.Background()

	// The null sender: SPF is about the HELO name; DKIM for a subdomain
	// aligns under relaxed alignment; the caller's disposition wins.
	in := message(time.Hour, "192.0.2.7", "good.doctor.test", "", checks.Pass, "mail.good.doctor.test", checks.Pass, checks.Pass, "")
	in.Helo = "Out.Good.Doctor.Test."
	in.Disposition = "none"
	r, ok := RecordFromResult(ctx, res, in)
	if !ok {
		t.Fatal("no record")
	}
	want := Record{Time: day.Add(time.Hour), SourceIP: in.ClientIP, HeaderFrom: "good.doctor.test", EnvelopeFrom: "out.good.doctor.test",
		EnvelopeTo: "mailsift.test", PolicyDomain: "good.doctor.test",
		Policy: Published{ADKIM: "r", ASPF: "r", P: "reject", Pct: 100, RUA: []string{"mailto:dmarc@good.doctor.test", "mailto:reports@dmarc-service.test"}},
		SPF:    []SPFAuth{{Domain: "out.good.doctor.test", Scope: "helo", Result: "pass"}},
		DKIM:   []DKIMAuth{{Domain: "mail.good.doctor.test", Result: "pass"}}, SPFAligned: true, DKIMAligned: true, Disposition: "none"}
	if !reflect.DeepEqual(r, want) {
		t.Fatalf("record\n%+v\nwant\n%+v", r, want)
	}

	// A failure the dmarc check did not enforce (a mailing list): the
	// disposition is none, with the override's reason.
	in = message(time.Hour, "192.0.2.8", "good.doctor.test", "list@lists.example", checks.Pass, "lists.example", checks.Pass, checks.Fail, "reject")
	dr := in.Results["dmarc"]
	dr.Reason, dr.Text = "dmarc-override", "good.doctor.test: neither SPF nor DKIM aligned; policy reject; not enforced: mailing list lists.example"
	in.Results["dmarc"] = dr
	r, ok = RecordFromResult(ctx, res, in)
	if !ok || r.Disposition != "none" || r.SPFAligned || r.DKIMAligned || len(r.Reasons) != 1 || r.Reasons[0] != "mailing_list" {
		t.Fatalf("override: %+v", r)
	}

	// A temperror is not reported (RFC 7489 §7.2: only evaluated mail).
	in = message(time.Hour, "192.0.2.9", "good.doctor.test", "a@good.doctor.test", checks.Pass, "", checks.None, checks.TempError, "")
	if _, ok := RecordFromResult(ctx, res, in); ok {
		t.Fatal("a temperror gave a record")
	}
	// No dmarc result at all.
	if _, ok := RecordFromResult(ctx, res, Input{Results: map[string]checks.Result{"spf": {Status: checks.Pass}}}); ok {
		t.Fatal("no dmarc result gave a record")
	}
}

// The reasons a disposition is not the published policy's (RFC 7489
// Appendix C PolicyOverrideType), from the dmarc check's words.
func TestRecordReasons(t *testing.T) {
	res := testDNS(t)
	ctx := context.Background()
	fail := func(policy, applied, reason, text string) Input {
		in := message(time.Hour, "198.51.100.7", "good.doctor.test", "x@forger.example", checks.Fail, "", checks.None, checks.Fail, applied)
		dr := in.Results["dmarc"]
		dr.Details["policy"] = policy
		if reason != "" {
			dr.Reason, dr.Text = reason, text
		}
		in.Results["dmarc"] = dr
		return in
	}
	for _, tt := range []struct {
		name     string
		in       Input
		disp     string
		reasons  string
		comment  string
		recorded bool
	}{
		{"enforced", fail("reject", "reject", "", ""), "reject", "", "", true},
		{"pct sampled it out", fail("reject", "quarantine", "", ""), "quarantine", "sampled_out", "policy reject applied as quarantine (pct=100)", true},
		{"refused by another check", func() Input {
			in := fail("reject", "none", "", "")
			in.Disposition, in.Comment = "reject", "rejected by the spf check"
			return in
		}(), "reject", "local_policy", "rejected by the spf check", true},
		{"softened by mode", func() Input {
			in := fail("reject", "reject", "", "")
			in.Disposition, in.Comment = "none", "policy reject softened to log by mode"
			return in
		}(), "none", "local_policy", "policy reject softened to log by mode", true},
		{"trusted forwarder", fail("reject", "reject", "dmarc-override", "good.doctor.test: neither SPF nor DKIM aligned; policy reject; not enforced: trusted forwarder 198.51.100.0/24"),
			"none", "trusted_forwarder", "trusted forwarder 198.51.100.0/24", true},
		{"temperror not enforced", func() Input {
			in := message(time.Hour, "198.51.100.7", "good.doctor.test", "x@forger.example", checks.TempError, "", checks.None, checks.TempError, "")
			dr := in.Results["dmarc"]
			dr.Reason, dr.Text = "dmarc-temperror-unenforced", "good.doctor.test: no aligned pass; SPF temperror for good.doctor.test; not enforced: mailing list lists.example"
			dr.Details["policy"] = "reject"
			in.Results["dmarc"] = dr
			in.Disposition = "none"
			return in
		}(), "none", "mailing_list", "mailing list lists.example", true},
		{"temperror tempfailed", func() Input {
			in := message(time.Hour, "198.51.100.7", "good.doctor.test", "x@forger.example", checks.TempError, "", checks.None, checks.TempError, "")
			dr := in.Results["dmarc"]
			dr.Reason = "dmarc-temperror"
			in.Results["dmarc"] = dr
			return in
		}(), "", "", "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := RecordFromResult(ctx, res, tt.in)
			if ok != tt.recorded {
				t.Fatalf("recorded %v, want %v", ok, tt.recorded)
			}
			if !ok {
				return
			}
			if r.Disposition != tt.disp || strings.Join(r.Reasons, ",") != tt.reasons || r.Comment != tt.comment {
				t.Fatalf("disposition %q reasons %q comment %q, want %q %q %q", r.Disposition, r.Reasons, r.Comment, tt.disp, tt.reasons, tt.comment)
			}
		})
	}
}
