package trace

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/mailsift/mailsift/internal/dsn"
)

// The outcomes of a message.
const (
	NeverReceived = "never-received" // nothing in the log matches
	Refused       = "refused"        // refused while receiving (SMTP reply, milter)
	Held          = "held"           // in the hold queue
	Discarded     = "discarded"      // accepted and dropped on purpose
	Queued        = "queued"         // still in the queue: deferred or not tried yet
	Delivered     = "delivered"      // every recipient sent
	Bounced       = "bounced"        // some recipient bounced or expired
)

// Diagnosis is the conclusion for one message: per recipient, the last
// attempt and what it means.
type Diagnosis struct {
	Outcome    string
	Summary    string
	Recipients []RecipientOutcome
}

// RecipientOutcome is the fate of one recipient.
type RecipientOutcome struct {
	To      string
	Status  string // sent, deferred, bounced, expired, refused
	Last    *Attempt
	Text    string           // the conclusion, in words
	Explain *dsn.Explanation // for any reply other than a success
}

// localServices deliver into a mailbox on this host.
var localServices = map[string]bool{"virtual": true, "local": true, "pipe": true}

// Diagnose says what happened to m and who must act.
func Diagnose(m *Message) Diagnosis {
	var d Diagnosis
	if m.Refusal != "" && len(m.Attempts) == 0 {
		e := dsn.Explain("", m.Refusal)
		d.Outcome = Refused
		d.Summary = fmt.Sprintf("refused while receiving with %q: it never entered the queue here.", m.Refusal)
		if m.Verdict != nil && (m.Verdict.Action == "reject" || m.Verdict.Action == "tempfail") {
			d.Summary += " mailsift decided it (" + verdictText(m.Verdict) + ")."
		}
		to := strings.Join(m.RefusedTo, ", ")
		d.Recipients = append(d.Recipients, RecipientOutcome{To: to, Status: "refused", Text: e.Advice, Explain: &e})
		return d
	}
	if m.Discarded != "" {
		d.Outcome, d.Summary = Discarded, "accepted and discarded on purpose ("+m.Discarded+"): nothing was delivered."
		return d
	}
	// The last attempt per recipient decides.
	last := map[string]*Attempt{}
	var order []string
	for i := range m.Attempts {
		a := &m.Attempts[i]
		if _, ok := last[a.To]; !ok {
			order = append(order, a.To)
		}
		last[a.To] = a
	}
	if len(order) == 0 {
		switch {
		case m.Held != "":
			d.Outcome, d.Summary = Held, "held in the hold queue ("+m.Held+"): release it with postsuper -H, or delete it with postsuper -d."
		case m.Removed:
			d.Outcome, d.Summary = Delivered, "left the queue with no delivery attempt in this log (look in older logs)."
		default:
			d.Outcome, d.Summary = Queued, "received and still queued: no delivery attempt in this log yet (postqueue -p shows why; a message in the hold or deferred queue waits there)."
		}
		return d
	}
	sent, bounced, deferred := 0, 0, 0
	for _, to := range order {
		a := last[to]
		ro := RecipientOutcome{To: to, Status: a.Status, Last: a}
		switch a.Status {
		case "sent":
			sent++
			if localServices[a.Service] || localServices[a.Relay] {
				ro.Text = fmt.Sprintf("delivered into the local mailbox by %s at %s (%s).", a.Service, stamp(a.Time), a.Reply)
			} else {
				ro.Text = fmt.Sprintf("delivered: %s answered %q at %s. The next server has the message: from here on ask its administrator, with these lines.", a.Relay, a.Reply, stamp(a.Time))
			}
		case "bounced", "expired":
			bounced++
			e := dsn.Explain(a.DSN, replyOf(a))
			ro.Explain = &e
			if a.Service == "error" && (a.Relay == "none" || a.Relay == "") {
				// Postfix's error(8) transport: this host's own configuration
				// refused it, no remote server was asked.
				e.Side = dsn.SideSenderAdmin
				e.Advice = fmt.Sprintf("No remote server was asked: this host's own configuration (an error: transport) bounces mail for this destination with %q. Its administrator must change the transport or the address is wrong.", replyOf(a))
			}
			ro.Text = fmt.Sprintf("bounced at %s by %s: %q. %s", stamp(a.Time), relayName(a), replyOf(a), e.Advice)
		default:
			deferred++
			e := dsn.Explain(a.DSN, replyOf(a))
			ro.Explain = &e
			if m.Expired {
				ro.Status = "expired"
				bounced++
				deferred--
				e.Class, e.Hard, e.Side = dsn.Expired, false, dsn.SideRecipientAdmin
				e.Advice = fmt.Sprintf("Postfix retried until its queue lifetime ended (maximal_queue_lifetime) and returned the message; every attempt was deferred, the last with %q (%s). The recipient's servers must be reachable and accept mail: ask their administrator, with these lines.", replyOf(a), cause(a))
				ro.Text = fmt.Sprintf("expired: returned to the sender after the last attempt at %s. %s", stamp(a.Time), e.Advice)
			} else {
				ro.Text = fmt.Sprintf("still queued: the last attempt at %s was deferred by %s: %q. %s", stamp(a.Time), relayName(a), replyOf(a), e.Advice)
			}
		}
		d.Recipients = append(d.Recipients, ro)
	}
	switch {
	case bounced > 0:
		d.Outcome = Bounced
		d.Summary = fmt.Sprintf("bounced for %d of %d recipients", bounced, len(order))
		if m.Notice != "" {
			d.Summary += "; the non-delivery notification went back to the sender as " + m.Notice
		}
		d.Summary += "."
	case deferred > 0:
		d.Outcome = Queued
		d.Summary = fmt.Sprintf("still queued for %d of %d recipients: Postfix retries.", deferred, len(order))
	default:
		d.Outcome = Delivered
		d.Summary = fmt.Sprintf("delivered to all %d recipients.", sent)
	}
	return d
}

// cause names the class of an attempt's reply.
func cause(a *Attempt) string {
	c, _ := dsn.Classify(a.DSN, replyOf(a))
	return c
}

func replyOf(a *Attempt) string {
	if a.Reply != "" {
		return a.Reply
	}
	return a.DSN
}

func relayName(a *Attempt) string {
	if a.Relay == "" || a.Relay == "none" {
		return "Postfix (" + a.Service + ")"
	}
	return a.Relay
}

func stamp(t time.Time) string { return t.Format("2006-01-02 15:04:05") }

func verdictText(v *Verdict) string {
	s := v.Action
	if v.Reply != "" {
		s += ", reply " + v.Reply
	}
	var names []string
	for k := range v.Checks {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		s += ", " + k + "=" + v.Checks[k]
	}
	return s
}

// Write prints each message's path and diagnosis, or that nothing matches.
func Write(w io.Writer, q Query, msgs []*Message, withLines bool) {
	if len(msgs) == 0 {
		fmt.Fprintf(w, "no message matches (%s): never received here, or outside the time range of these logs.\n", q)
		return
	}
	for i, m := range msgs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		id := m.QueueID
		if id == "" {
			id = "NOQUEUE"
		}
		fmt.Fprintf(w, "message %s", id)
		if m.MessageID != "" {
			fmt.Fprintf(w, " %s", m.MessageID)
		}
		fmt.Fprintln(w)
		if m.Client != "" {
			fmt.Fprintf(w, "  received  %s from %s", stamp(m.Received), m.Client)
			if m.User != "" {
				fmt.Fprintf(w, " (authenticated as %s)", m.User)
			}
			fmt.Fprintln(w)
		}
		if m.From != "" || m.QueueID != "" {
			fmt.Fprintf(w, "  sender    <%s>", m.From)
			if m.Size != "" {
				fmt.Fprintf(w, " size %s", m.Size)
			}
			fmt.Fprintln(w)
		}
		if m.Verdict != nil {
			fmt.Fprintf(w, "  mailsift  %s\n", verdictText(m.Verdict))
		}
		if m.Refusal != "" {
			fmt.Fprintf(w, "  refused   %s\n", m.Refusal)
		}
		for _, a := range m.Attempts {
			fmt.Fprintf(w, "  attempt   %s %s to=<%s> relay=%s delay=%s dsn=%s status=%s (%s)\n",
				stamp(a.Time), a.Service, a.To, a.Relay, a.Delay, a.DSN, a.Status, a.Reply)
		}
		d := Diagnose(m)
		fmt.Fprintf(w, "  outcome   %s: %s\n", d.Outcome, d.Summary)
		for _, r := range d.Recipients {
			fmt.Fprintf(w, "  <%s>: %s\n", r.To, r.Text)
			if r.Explain != nil {
				fmt.Fprintf(w, "    class %s, %s, to act: %s\n", r.Explain.Class, hardWord(r.Explain.Hard), r.Explain.Side)
			}
		}
		if withLines || d.Outcome == Delivered || d.Outcome == Bounced || d.Outcome == Refused {
			fmt.Fprintln(w, "  log lines:")
			for _, l := range m.Lines {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
	}
}

func hardWord(h bool) string {
	if h {
		return "hard (the address is dead)"
	}
	return "soft"
}
