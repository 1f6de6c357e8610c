package policy

import (
	"testing"

	"github.com/mailsift/mailsift/checks"
)

func TestDecide(t *testing.T) {
	syntax := checks.Reply{Code: 501, Enhanced: "5.5.2", Text: "bad"}
	temp := checks.Reply{Code: 450, Enhanced: "4.7.25", Text: "later"}
	tests := []struct {
		name       string
		p          Policy
		r          checks.Result
		action     Action
		wantReply  string
		wantWanted Action
	}{
		{"fail rejects", Policy{Mode: Enforce}, checks.Result{Check: "helo", Status: checks.Fail, Reply: syntax}, Reject, "501 5.5.2 bad", Reject},
		{"temperror tempfails", Policy{Mode: Enforce}, checks.Result{Check: "ptr", Status: checks.TempError, Reply: temp}, Tempfail, "450 4.7.25 later", Tempfail},
		{"pass logs", Policy{Mode: Enforce}, checks.Result{Check: "helo", Status: checks.Pass}, Log, "", Log},
		{"tag mode softens", Policy{Mode: TagMode}, checks.Result{Check: "helo", Status: checks.Fail, Reply: syntax}, Tag, "", Reject},
		{"observe logs", Policy{Mode: Observe}, checks.Result{Check: "helo", Status: checks.Fail, Reply: syntax}, Log, "", Reject},
		{"per-check mode overrides", Policy{Mode: Observe, Rules: map[string]Rule{"helo": {Mode: Enforce}}},
			checks.Result{Check: "helo", Status: checks.Fail, Reply: syntax}, Reject, "501 5.5.2 bad", Reject},
		{"configured tempfail turns reply temporary", Policy{Mode: Enforce, Rules: map[string]Rule{"helo": {Actions: map[string]Action{"fail": Tempfail}}}},
			checks.Result{Check: "helo", Status: checks.Fail, Reply: checks.Reply{Code: 550, Enhanced: "5.7.1", Text: "x"}}, Tempfail, "450 4.7.1 x", Tempfail},
		{"reason wins over status", Policy{Mode: Enforce, Rules: map[string]Rule{"helo": {Actions: map[string]Action{"fail": Log, "helo-ours": Reject}}}},
			checks.Result{Check: "helo", Status: checks.Fail, Reason: "helo-ours", Reply: checks.Reply{Code: 550, Enhanced: "5.7.1", Text: "x"}}, Reject, "550 5.7.1 x", Reject},
		{"status when the reason is not named", Policy{Mode: Enforce, Rules: map[string]Rule{"helo": {Actions: map[string]Action{"fail": Log, "helo-ours": Reject}}}},
			checks.Result{Check: "helo", Status: checks.Fail, Reason: "helo-unknown"}, Log, "", Log},
		{"skipped is logged", Policy{Mode: Enforce}, checks.Result{Check: "helo", Status: checks.Skipped, Reason: "exception"}, Log, "", Log},
		{"reject with no reply gets one", Policy{Mode: Enforce}, checks.Result{Check: "x", Status: checks.PermError}, Reject, "550 5.7.1 Message rejected by policy", Reject},
		{"off stays off in observe", Policy{Mode: Observe, Rules: map[string]Rule{"helo": {Actions: map[string]Action{"fail": Off}}}},
			checks.Result{Check: "helo", Status: checks.Fail}, Off, "", Off},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := tt.p.Decide(tt.r)
			if d.Action != tt.action || d.Wanted != tt.wantWanted {
				t.Fatalf("action = %s (wanted %s), want %s (wanted %s)", d.Action, d.Wanted, tt.action, tt.wantWanted)
			}
			got := ""
			if !d.Reply.IsZero() {
				got = d.Reply.String()
			}
			if got != tt.wantReply {
				t.Fatalf("reply = %q, want %q", got, tt.wantReply)
			}
		})
	}
}

func TestStronger(t *testing.T) {
	order := []Action{Reject, Tempfail, Quarantine, Tag, Log, Off}
	for i := 0; i < len(order)-1; i++ {
		if !order[i].Stronger(order[i+1]) || order[i+1].Stronger(order[i]) {
			t.Errorf("%s vs %s", order[i], order[i+1])
		}
	}
}
