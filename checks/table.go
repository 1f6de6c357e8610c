package checks

import (
	"slices"
	"sort"
	"strings"

	"github.com/mailsift/mailsift/internal/config"
)

// CheckConfig is what every check's table has besides its own keys: the
// actions for its statuses and reasons, its replies, and its exceptions.
type CheckConfig struct {
	Actions map[string]Action    `toml:"actions"`
	Replies map[string]ReplyText `toml:"replies"`
	Except  ExceptConfig         `toml:"except"`
}

// ExceptConfig lists when a check does not run.
type ExceptConfig struct {
	Networks   []config.Prefix `toml:"networks"`
	Hostnames  []string        `toml:"hostnames"`
	Senders    []string        `toml:"senders"`
	Recipients []string        `toml:"recipients"`
}

// Validate checks the table of the check named check, whose keys are
// under prefix ("checks.helo"); atStage names the stage a check runs at
// before the sender and recipients are known ("connect", "HELO"), or "".
// It lowercases the exceptions' names.
func (cc *CheckConfig) Validate(prefix, check, atStage string) error {
	for _, k := range sortedKeys(cc.Actions) {
		if _, err := ParseStatus(k); err != nil && !slices.Contains(Reasons(check), k) {
			return config.Errorf(prefix+".actions."+k, "want a status (pass, fail, softfail, neutral, none, temperror, permerror) or one of %s's reasons (%s), got %q",
				check, strings.Join(Reasons(check), ", "), k)
		}
	}
	x := &cc.Except
	if atStage != "" && len(x.Senders)+len(x.Recipients) > 0 {
		return config.Errorf(prefix+".except", "%s runs at %s, before the sender and recipients are known: use networks or hostnames", check, atStage)
	}
	if err := normalizeNames(x.Hostnames, exceptHostname, prefix+".except.hostnames", `hostname suffixes such as "outbound.example.net"`); err != nil {
		return err
	}
	if err := normalizeNames(x.Senders, domainName, prefix+".except.senders", `sender domains such as "example.com"`); err != nil {
		return err
	}
	for i, r := range x.Recipients {
		a, err := ParseAddress(r)
		if err != nil || a.Domain == "" {
			return config.Errorf(prefix+".except.recipients", "want addresses such as \"postmaster@example.org\", got %q", r)
		}
		x.Recipients[i] = a.String()
	}
	var keys []string
	for _, row := range Table() {
		if row.Check == check {
			keys = append(keys, row.Key)
		}
	}
	for _, k := range sortedKeys(cc.Replies) {
		if !slices.Contains(keys, k) {
			return config.Errorf(prefix+".replies."+k, "unknown reply, want one of %s", strings.Join(keys, ", "))
		}
	}
	return nil
}

// normalizeNames replaces each of a config list's names by read's reading
// of it, or fails at the first one read refuses: "want <want>, got <the
// name as written>" for the list's key.
func normalizeNames(names []string, read func(string) (string, bool), key, want string) error {
	for i, n := range names {
		v, ok := read(n)
		if !ok {
			return config.Errorf(key, "want %s, got %q", want, n)
		}
		names[i] = v
	}
	return nil
}

// hostSuffix reads a hostname suffix as the lists write it: lowercased,
// with the dots at either end trimmed ("..Example.NET." is "example.net");
// false when it is not a hostname.
func hostSuffix(s string) (string, bool) {
	h := strings.ToLower(strings.Trim(s, "."))
	return h, HostnameSyntaxError(h) == ""
}

// domainName reads a domain name: lowercased, without its root dot.
func domainName(s string) (string, bool) {
	d := strings.ToLower(strings.TrimSuffix(s, "."))
	return d, HostnameSyntaxError(d) == ""
}

// exceptHostname reads an except.hostnames suffix: lowercased, with one
// dot trimmed at either end (".example.net." is "example.net").
func exceptHostname(s string) (string, bool) {
	h := strings.ToLower(strings.TrimPrefix(strings.TrimSuffix(s, "."), "."))
	return h, HostnameSyntaxError(h) == ""
}

// Exceptions returns the check's exceptions, or nil when it has none.
func (cc *CheckConfig) Exceptions() *Exceptions {
	x := cc.Except
	if len(x.Networks)+len(x.Hostnames)+len(x.Senders)+len(x.Recipients) == 0 {
		return nil
	}
	e := &Exceptions{Hostnames: x.Hostnames, Senders: x.Senders, Recipients: x.Recipients}
	for _, p := range x.Networks {
		e.Networks = append(e.Networks, p.Prefix)
	}
	return e
}

// Reply returns the reply for key: the configured one, or the table's.
func (cc *CheckConfig) Reply(check, key string) Reply {
	if r, ok := cc.Replies[key]; ok {
		return r.Reply
	}
	r, _ := DefaultReply(check, key)
	return r
}

// Effective returns the table with what the code fills in spelled out: an
// action for every status (defaults from defaults, then the table's own,
// reasons too) and every reply of the check.
func (cc CheckConfig) Effective(check string, defaults map[Status]Action) CheckConfig {
	actions := map[string]Action{}
	for _, s := range Statuses {
		actions[string(s)] = defaults[s]
	}
	for k, a := range cc.Actions {
		actions[k] = a
	}
	replies := map[string]ReplyText{}
	for _, row := range Table() {
		if row.Check == check {
			replies[row.Key] = ReplyText{cc.Reply(check, row.Key)}
		}
	}
	cc.Actions, cc.Replies = actions, replies
	return cc
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
