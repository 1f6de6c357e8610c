package milter

import (
	"strings"

	gomilter "github.com/d--j/go-milter"
	"github.com/emersion/go-msgauth/authres"

	"github.com/mailsift/mailsift/checks"
)

// edit is one change to the message's header, made at end of message.
type edit struct {
	name  string
	value string
	index int  // > 0: change (here: delete) the index-th header of that name
	top   bool // added at the top (after the MTA's own Received), not appended
}

// edits lists the header changes for a message that is accepted:
//   - Authentication-Results headers that claim to be ours are forged
//     (RFC 8601 §5) and are removed;
//   - our own Authentication-Results is added, with each check's results
//     (iprev, spf, dkim, dmarc) or "none";
//   - in tag mode, X-Mailsift names each finding that was softened to a tag.
func (s *Session) edits(v verdict) []edit {
	var es []edit
	n := 0
	for _, h := range s.env.Headers {
		if !strings.EqualFold(h.Name, "Authentication-Results") {
			continue
		}
		n++
		if isOurs(h.Value, s.rt.Hostname) {
			es = append(es, edit{name: h.Name, index: n})
		}
	}
	// Each check's last results, in the order the checks first appear (as
	// lastPerCheck), without copying the findings.
	type checkAR struct {
		check string
		ar    []authres.Result
	}
	var buf [16]checkAR
	per := buf[:0]
	n = 0
next:
	for f := range s.all() {
		for i := range per {
			if per[i].check == f.r.Check {
				n += len(f.r.AuthRes) - len(per[i].ar)
				per[i].ar = f.r.AuthRes
				continue next
			}
		}
		per = append(per, checkAR{f.r.Check, f.r.AuthRes})
		n += len(f.r.AuthRes)
	}
	results := make([]authres.Result, 0, n)
	for _, p := range per {
		results = append(results, p.ar...)
	}
	// RFC 8601 §5: at the top of the header, beside the MTA's Received.
	es = append(es, edit{name: "Authentication-Results", value: checks.FormatAuthRes(s.rt.Hostname, results), top: true})
	if len(v.tags) > 0 {
		es = append(es, edit{name: "X-Mailsift", value: strings.Join(v.tags, " ")})
	}
	return es
}

// applyEdits is the one place where mailsift changes a message. Removals
// come first and from the last occurrence back, so indexes stay valid.
func applyEdits(m gomilter.Modifier, es []edit) error {
	// With SMFIP_HDR_LEADSPC the MTA adds no space after the colon.
	lead := ""
	if m.Protocol()&gomilter.OptHeaderLeadingSpace != 0 {
		lead = " "
	}
	for i := len(es) - 1; i >= 0; i-- {
		e := es[i]
		if e.index > 0 {
			if err := m.ChangeHeader(e.index, e.name, ""); err != nil {
				return err
			}
		}
	}
	for _, e := range es {
		if e.index == 0 {
			add := m.AddHeader
			if e.top {
				// Index 1: below the Received header the MTA added for
				// this hop, which it passes as the first header.
				add = func(name, value string) error { return m.InsertHeader(1, name, value) }
			}
			if err := add(e.name, lead+e.value); err != nil {
				return err
			}
		}
	}
	return nil
}
