package checks

import "fmt"

// Action is what a check's table asks for one of its findings: its
// actions map statuses and reasons to these. The policy package applies
// them; a check never does.
type Action string

// The actions, strongest first.
const (
	ActionReject     Action = "reject"     // refuse with the check's 5xx reply
	ActionTempfail   Action = "tempfail"   // refuse with the check's 4xx reply
	ActionQuarantine Action = "quarantine" // accept into the MTA's hold queue
	ActionTag        Action = "tag"        // accept with an X-Mailsift header naming the finding
	ActionLog        Action = "log"        // accept; the finding is in the log record only
	ActionOff        Action = "off"        // ignore the finding
)

func actionStrength(a Action) int {
	switch a {
	case ActionReject:
		return 6
	case ActionTempfail:
		return 5
	case ActionQuarantine:
		return 4
	case ActionTag:
		return 3
	case ActionLog:
		return 2
	case ActionOff:
		return 1
	}
	return 0
}

// Stronger reports whether a is stronger than b.
func (a Action) Stronger(b Action) bool { return actionStrength(a) > actionStrength(b) }

// Refuses reports whether a refuses the mail in SMTP.
func (a Action) Refuses() bool { return a == ActionReject || a == ActionTempfail }

// ParseAction returns the action named s.
func ParseAction(s string) (Action, error) {
	a := Action(s)
	if actionStrength(a) == 0 {
		return "", fmt.Errorf("unknown action %q, want one of reject, tempfail, quarantine, tag, log, off", s)
	}
	return a, nil
}

// UnmarshalText implements encoding.TextUnmarshaler, for config tables.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	*a = v
	return err
}

// Mode says how far actions are carried out: the global mode, or a check's
// own.
type Mode string

// The modes. A mode only ever softens an action.
const (
	ModeEnforce Mode = "enforce" // carry out every action
	ModeTag     Mode = "tag"     // refusals and quarantine become a tag; mail is accepted
	ModeObserve Mode = "observe" // log only
)

// ParseMode returns the mode named s.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeEnforce, ModeTag, ModeObserve:
		return m, nil
	}
	return "", fmt.Errorf("unknown mode %q, want enforce, tag or observe", s)
}

// UnmarshalText implements encoding.TextUnmarshaler, for the config file.
func (m *Mode) UnmarshalText(b []byte) error {
	v, err := ParseMode(string(b))
	*m = v
	return err
}

// CheckMode is a check's own mode: a policy mode that overrides the global
// one, "off" to not run the check, or "" to follow the global mode.
type CheckMode string

// UnmarshalText implements encoding.TextUnmarshaler.
func (m *CheckMode) UnmarshalText(b []byte) error {
	switch s := string(b); s {
	case "", "off":
		*m = CheckMode(s)
		return nil
	default:
		if _, err := ParseMode(s); err != nil {
			return fmt.Errorf("unknown mode %q, want enforce, tag, observe or off", s)
		}
		*m = CheckMode(s)
		return nil
	}
}

// ReplyText is a Reply as the config file writes it: "550 5.7.1 text".
type ReplyText struct{ Reply }

// UnmarshalText implements encoding.TextUnmarshaler.
func (r *ReplyText) UnmarshalText(b []byte) error {
	v, err := ParseReply(string(b))
	r.Reply = v
	return err
}

// MarshalText implements encoding.TextMarshaler.
func (r ReplyText) MarshalText() ([]byte, error) { return []byte(r.Reply.String()), nil }
