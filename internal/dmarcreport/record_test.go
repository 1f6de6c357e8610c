package dmarcreport

import (
	"context"
	"reflect"
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
