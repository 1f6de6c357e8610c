// Package policy turns a check's Result into an Action. It is the one place
// where configuration decides what happens to mail: checks only judge.
package policy

import (
	"github.com/mailsift/mailsift/checks"
)

// Action is what happens to the message (or recipient) for one result;
// the words are the check tables' (checks.Action).
type Action = checks.Action

// The actions, strongest first.
const (
	Reject     = checks.ActionReject     // refuse with the check's 5xx reply
	Tempfail   = checks.ActionTempfail   // refuse with the check's 4xx reply
	Quarantine = checks.ActionQuarantine // accept into the MTA's hold queue
	Tag        = checks.ActionTag        // accept with an X-Mailsift header naming the finding
	Log        = checks.ActionLog        // accept; the finding is in the log record only
	Off        = checks.ActionOff        // ignore the finding
)

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) { return checks.ParseAction(s) }

// Mode says how far actions are carried out.
type Mode = checks.Mode

// The modes. A mode only ever softens an action.
const (
	Enforce = checks.ModeEnforce // carry out every action
	TagMode = checks.ModeTag     // refusals and quarantine become a tag; mail is accepted
	Observe = checks.ModeObserve // log only
)

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) { return checks.ParseMode(s) }

// DefaultActions is the action for each status when the config says
// nothing: a failure refuses, a temporary DNS error tempfails (never a
// pass: RFC 7208 §2.6.6 and friends), the rest is logged.
func DefaultActions() map[checks.Status]Action {
	return map[checks.Status]Action{
		checks.Pass:      Log,
		checks.Fail:      Reject,
		checks.SoftFail:  Log,
		checks.Neutral:   Log,
		checks.None:      Log,
		checks.TempError: Tempfail,
		checks.PermError: Reject,
		checks.Skipped:   Log,
	}
}

// Rule is one check's policy.
type Rule struct {
	// Actions by reason ("helo-ours") or by status ("fail"); a reason
	// wins over its status, and what is in neither takes DefaultActions.
	Actions map[string]Action
	Mode    Mode // "" means the global mode
}

// Policy maps results to decisions.
type Policy struct {
	Mode  Mode
	Rules map[string]Rule // by check name
}

// Decision is the policy's answer for one result.
type Decision struct {
	Check  string
	Status checks.Status
	Wanted Action // what the rule asks for
	Action Action // what is done after the mode softened it
	Reply  checks.Reply
}

// Decide maps r to a Decision.
func (p *Policy) Decide(r checks.Result) Decision {
	rule := p.Rules[r.Check]
	wanted, ok := rule.Actions[r.Reason]
	if !ok || r.Reason == "" {
		wanted, ok = rule.Actions[string(r.Status)]
	}
	if !ok {
		wanted = DefaultActions()[r.Status]
	}
	mode := rule.Mode
	if mode == "" {
		mode = p.Mode
	}
	d := Decision{Check: r.Check, Status: r.Status, Wanted: wanted, Action: soften(wanted, mode)}
	switch d.Action {
	case Reject:
		d.Reply = replyOrDefault(r.Reply).AsPermanent()
	case Tempfail:
		d.Reply = replyOrDefault(r.Reply).AsTemporary()
	}
	return d
}

func soften(a Action, m Mode) Action {
	switch m {
	case TagMode:
		if a == Reject || a == Tempfail || a == Quarantine {
			return Tag
		}
	case Observe:
		if a != Off {
			return Log
		}
	}
	return a
}

// replyOrDefault gives a reply to a check that refuses without one, so the
// client never sees a bare reject.
func replyOrDefault(r checks.Reply) checks.Reply {
	if r.IsZero() {
		return checks.Reply{Code: 550, Enhanced: "5.7.1", Text: "Message rejected by policy"}
	}
	return r
}
