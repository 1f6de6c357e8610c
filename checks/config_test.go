package checks

import (
	"slices"
	"testing"
)

// Every check with reasons or default replies is in one of the two lists,
// once, and every check in a list has reasons: the list is where a check
// is registered, and nothing about a check lives elsewhere.
func TestListsCoverTheChecks(t *testing.T) {
	c, g := DefaultConfig(), DefaultGreylistConfig()
	o := DefaultOutboundTables()
	var names []string
	for _, e := range append(Inbound(&c, &g), o.List()...) {
		if slices.Contains(names, e.Name) {
			t.Errorf("%s is listed twice", e.Name)
		}
		names = append(names, e.Name)
		if len(Reasons(e.Name)) == 0 {
			t.Errorf("%s has no reasons", e.Name)
		}
		if e.Table == nil || e.Prefix == "" {
			t.Errorf("%s: no table", e.Name)
		}
	}
	for name := range reasons() {
		if !slices.Contains(names, name) {
			t.Errorf("%s has reasons but is in no list", name)
		}
	}
	for _, row := range Table() {
		if !slices.Contains(names, row.Check) {
			t.Errorf("%s has a reply row but is in no list", row.Check)
		}
	}
	// The inbound order is the chain's.
	want := []string{PTRName, HeloName, SenderName, RecipientName, CalloutName, SPFName, DKIMName, DMARCName, RelayName, GreylistName}
	if got := names[:len(want)]; !slices.Equal(got, want) {
		t.Errorf("inbound order %v, want %v", got, want)
	}
}

// A check that is off is not built; the others are, in the list's order,
// with their exceptions.
func TestNewChainFromList(t *testing.T) {
	c, g := DefaultConfig(), DefaultGreylistConfig()
	g.Enabled = false
	c.Sender.Mode = "off"
	c.Relay.Except.Hostnames = []string{"relay.example.net"}
	chain := c.NewChain(&g, Deps{Hostname: "mx.example.org"})
	var got []string
	for _, ch := range chain.Checks() {
		got = append(got, ch.Name())
	}
	want := []string{PTRName, HeloName, RecipientName, SPFName, DKIMName, DMARCName, RelayName}
	if !slices.Equal(got, want) {
		t.Fatalf("chain %v, want %v", got, want)
	}
	env := &Envelope{PTRName: "a.relay.example.net", Rcpt: "x@elsewhere.example"}
	var relay []Result
	for _, r := range chain.Run(t.Context(), StageRcpt, env) {
		if r.Check == RelayName {
			relay = append(relay, r)
		}
	}
	if len(relay) != 1 || relay[0].Status != Skipped || relay[0].Reason != ReasonException {
		t.Fatalf("relay with its exception: %+v", relay)
	}
}
