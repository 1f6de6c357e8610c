package checks

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mailsift/mailsift/internal/config"
)

// Recipient checks each RCPT TO address, as Postfix's
// reject_non_fqdn_recipient and reject_unlisted_recipient do. Recipients
// in other domains pass here: the relay check decides about them.
type Recipient struct {
	RequireFQDN bool
	Domains     []string       // our domains, lowercased
	List        *RecipientList // nil: every address in our domains exists
	// The replies; see Table for the defaults.
	Syntax, NonFQDN, Unlisted, Temp Reply
}

// Name implements Check.
func (*Recipient) Name() string { return RecipientName }

// Local implements Local: the domains and the list are in memory (the
// list file is reread when it changes).
func (*Recipient) Local() bool { return true }

// CheckRcpt implements RcptChecker.
func (r *Recipient) CheckRcpt(_ context.Context, env *Envelope) Result {
	vars := map[string]string{"rcpt": env.Rcpt}
	fail := func(reason, text string, rep Reply) Result {
		return Result{Status: Fail, Reason: reason, Text: text, Reply: rep.Expand(vars)}
	}
	a, err := ParseAddress(env.Rcpt)
	if err != nil {
		return fail(ReasonRcptMalformed, err.Error(), r.Syntax)
	}
	// RFC 5321 §4.5.1: "postmaster" without a domain must be accepted.
	if a.Domain == "" && strings.EqualFold(a.Local, "postmaster") {
		return Result{Status: Pass, Reason: ReasonRcptPostmaster, Text: "unqualified postmaster"}
	}
	if r.RequireFQDN && !IsFQDN(a.Domain) {
		return fail(ReasonRcptNotFQDN, "recipient domain "+quote(a.Domain)+" is not fully qualified", r.NonFQDN)
	}
	if !slices.Contains(r.Domains, a.Domain) {
		return Result{Status: Pass, Reason: ReasonRcptForeign, Text: "not one of our domains"}
	}
	if r.List == nil {
		return Result{Status: Pass, Reason: ReasonRcptLocal, Text: "one of our domains"}
	}
	ok, err := r.List.Has(a)
	if err != nil {
		// Unreadable, or changed into something broken: a recipient the
		// last good list lacks may be one just added, so it is not
		// refused for good (as Postfix answers a broken map with 451).
		return Result{Status: TempError, Reason: ReasonRcptTempError, Text: a.String() + " is not in the last good list: " + err.Error(), Reply: r.Temp.Expand(vars)}
	}
	if !ok {
		return fail(ReasonRcptUnlisted, a.String()+" is not in "+r.List.path, r.Unlisted)
	}
	return Result{Status: Pass, Reason: ReasonRcptListed, Text: "listed"}
}

// RecipientList is a file of valid recipients: one address per line,
// "@domain" for every address of a domain, "#" comments. Local parts are
// compared as written (RFC 5321 §2.4: they may be case-sensitive), domains
// without case. The file is read again when it changes, at most once per
// second; a file that fails to read keeps the previous list.
type RecipientList struct {
	path      string
	delimiter string // "+": user+ext@ is also looked up as user@; "" for none
	now       func() time.Time
	// Report, if set, is told when the file fails to read (each new
	// error) and when it reads again (nil); it is called with the list
	// locked.
	Report func(err error)

	mu      sync.Mutex
	entries map[string]bool
	mtime   time.Time
	size    int64
	checked time.Time
	err     error // the last read error, kept while the list is stale
}

// LoadRecipientList reads the list at path; the error names the file and
// line of the first bad entry.
func LoadRecipientList(path, delimiter string, now func() time.Time) (*RecipientList, error) {
	l := &RecipientList{path: path, delimiter: delimiter, now: now, checked: now()}
	if err := l.reload(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *RecipientList) reload() error {
	fi, err := os.Stat(l.path)
	if err != nil {
		return fmt.Errorf("recipient list: %w", err)
	}
	if fi.ModTime().Equal(l.mtime) && fi.Size() == l.size && l.entries != nil {
		return nil
	}
	data, err := os.ReadFile(l.path)
	if err != nil {
		return fmt.Errorf("recipient list: %w", err)
	}
	entries, err := parseRecipientList(l.path, data)
	if err != nil {
		return err
	}
	l.entries, l.mtime, l.size = entries, fi.ModTime(), fi.Size()
	return nil
}

// ParseRecipientList parses a list; name is the file name for errors.
func parseRecipientList(name string, data []byte) (map[string]bool, error) {
	entries := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if i := strings.Index(line, "#"); i >= 0 && !strings.Contains(line[:i], `"`) {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		if d, ok := strings.CutPrefix(line, "@"); ok {
			if !IsFQDN(d) || strings.HasPrefix(d, "[") {
				return nil, fmt.Errorf("%s:%d: want an address or @domain, got %q", name, n, line)
			}
			entries["@"+strings.ToLower(strings.TrimSuffix(d, "."))] = true
			continue
		}
		a, err := ParseAddress(line)
		if err != nil || a.Domain == "" {
			return nil, fmt.Errorf("%s:%d: want an address or @domain, got %q", name, n, line)
		}
		entries[a.String()] = true
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return entries, nil
}

// Has reports whether a is listed. While the file cannot be read (or was
// changed into something broken) the last good list answers for what it
// holds, and an address it lacks gets the error: it may be one just added.
func (l *RecipientList) Has(a Address) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now := l.now(); now.Sub(l.checked) >= time.Second {
		l.checked = now
		err := l.reload()
		if l.Report != nil && errString(err) != errString(l.err) {
			l.Report(err)
		}
		l.err = err
	}
	if l.entries == nil {
		return false, l.err
	}
	if l.entries[a.String()] || l.entries["@"+a.Domain] {
		return true, nil
	}
	if l.delimiter != "" && !strings.HasPrefix(a.Local, `"`) {
		if base, _, ok := strings.Cut(a.Local, l.delimiter); ok && base != "" && l.entries[base+"@"+a.Domain] {
			return true, nil
		}
	}
	return false, l.err
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Err returns the last error reading the list, while an older version is
// in use; nil when the list is current.
func (l *RecipientList) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// The recipient check's name and reasons (its log's mailsift.checks.recipient.reason, and keys of its actions).
const (
	RecipientName        = "recipient"
	ReasonRcptListed     = "rcpt-listed"
	ReasonRcptLocal      = "rcpt-local"
	ReasonRcptForeign    = "rcpt-foreign"
	ReasonRcptPostmaster = "rcpt-postmaster"
	ReasonRcptMalformed  = "rcpt-malformed"
	ReasonRcptNotFQDN    = "rcpt-not-fqdn"
	ReasonRcptUnlisted   = "rcpt-unlisted"
	ReasonRcptTempError  = "rcpt-temperror"
)

func recipientReasons() []string {
	return []string{ReasonRcptListed, ReasonRcptLocal, ReasonRcptForeign, ReasonRcptPostmaster, ReasonRcptMalformed, ReasonRcptNotFQDN, ReasonRcptUnlisted, ReasonRcptTempError}
}

// recipientRows are the recipient check's default replies (keys of [checks.recipient.replies]).
func recipientRows() []Row {
	return []Row{
		{RecipientName, "temp", Reply{451, "4.3.0", "<{rcpt}>: Recipient address rejected: temporary lookup failure"}},
		{RecipientName, "unlisted", Reply{550, "5.1.1", "<{rcpt}>: Recipient address rejected: User unknown"}},
		{RecipientName, "syntax", Reply{501, "5.1.3", "<{rcpt}>: Recipient address rejected: malformed address"}},
		{RecipientName, "non_fqdn", Reply{504, "5.5.2", "<{rcpt}>: Recipient address rejected: need fully-qualified address"}},
	}
}

// RecipientConfig is [checks.recipient]; its domains are "ours" for the
// relay, callout and greylist checks too, and its delimiter the greylist's.
type RecipientConfig struct {
	Mode      CheckMode `toml:"mode"`
	Domains   []string  `toml:"domains"`
	List      string    `toml:"list"`
	Delimiter string    `toml:"delimiter"`
	NonFQDN   bool      `toml:"non_fqdn"`
	CheckConfig
}

func defaultRecipientConfig() RecipientConfig {
	return RecipientConfig{NonFQDN: true, Delimiter: "+", Domains: []string{}}
}

// Validate checks the table and lowercases its domains. The list file is
// loaded by whoever uses it, once.
func (t *RecipientConfig) Validate() error {
	for i, d := range t.Domains {
		if !IsFQDN(d) || strings.HasPrefix(d, "[") {
			return config.Errorf("checks.recipient.domains", "want domain names such as \"example.org\", got %q", d)
		}
		t.Domains[i] = strings.ToLower(strings.TrimSuffix(d, "."))
	}
	if t.List != "" && len(t.Domains) == 0 {
		return config.Errorf("checks.recipient.list", "a recipient list needs checks.recipient.domains: the domains it lists")
	}
	if strings.ContainsAny(t.Delimiter, "@\" \t") || len(t.Delimiter) > 1 {
		return config.Errorf("checks.recipient.delimiter", "want one character such as \"+\" or \"\" for none, got %q", t.Delimiter)
	}
	return nil
}

// newRecipient builds the recipient check from its table.
func newRecipient(t *RecipientConfig, d Deps) Check {
	r := func(key string) Reply { return t.Reply(RecipientName, key) }
	return &Recipient{RequireFQDN: t.NonFQDN, Domains: t.Domains, List: d.Recipients,
		Syntax: r("syntax"), NonFQDN: r("non_fqdn"), Unlisted: r("unlisted"), Temp: r("temp")}
}
