package checks

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"
)

// Login is Postfix's reject_sender_login_mismatch for submissions: an
// SMTP-authenticated login may send only as the addresses the logins file
// gives it, as MAIL FROM and, when FromHeader is set, in the From header.
// Mail without a login (the sendmail command, trusted networks) is not its
// business.
type Login struct {
	Map        *LoginMap
	FromHeader bool   // also check the From header's addresses
	Delimiter  string // user+ext@ is owned when user@ is
	// The replies; see Table for the defaults.
	Mismatch, Temp Reply
}

// Name implements Check.
func (*Login) Name() string { return LoginName }

// CheckMail implements MailChecker.
func (l *Login) CheckMail(_ context.Context, env *Envelope) Result {
	if env.AuthUser == "" {
		return Result{Status: None, Reason: ReasonLoginNotAuthenticated, Text: "no SMTP login"}
	}
	if env.From == "" {
		return Result{Status: Pass, Reason: ReasonLoginNullSender, Text: "the null sender is no one's"}
	}
	return l.judge(env, env.From, ReasonLoginMismatch)
}

// CheckData implements DataChecker: the From header, when configured.
func (l *Login) CheckData(_ context.Context, env *Envelope) Result {
	if !l.FromHeader || env.AuthUser == "" {
		return Result{}
	}
	for _, h := range env.Headers {
		if !strings.EqualFold(h.Name, "From") {
			continue
		}
		// The parser of the standards and preflight checks and of the DKIM
		// signer: a From they read (obsolete routes and all) is checked, and
		// one they cannot read is no login's.
		addrs, err := parseMailboxList(h.Value)
		if err != nil {
			vars := map[string]string{"sender": strings.TrimSpace(h.Value), "login": env.AuthUser}
			return Result{Status: Fail, Reason: ReasonLoginFromMismatch, Text: "From header does not parse: " + err.Error(), Reply: l.Mismatch.Expand(vars)}
		}
		for _, a := range addrs {
			if r := l.judge(env, quoteLocal(a.Local)+"@"+a.Domain, ReasonLoginFromMismatch); r.Status != Pass {
				return r
			}
		}
	}
	return Result{}
}

// quoteLocal writes a local part as it stands in an address: quoted
// unless it is a dot-atom.
func quoteLocal(local string) string {
	atom := local != "" && !strings.HasPrefix(local, ".") && !strings.HasSuffix(local, ".") && !strings.Contains(local, "..")
	for _, c := range local {
		if c != '.' && !isAtext(c) {
			atom = false
		}
	}
	if atom {
		return local
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(local) + `"`
}

func (l *Login) judge(env *Envelope, addr, reason string) Result {
	vars := map[string]string{"sender": addr, "login": env.AuthUser}
	a, err := ParseAddress(addr)
	if err != nil {
		return Result{Status: Fail, Reason: reason, Text: err.Error(), Reply: l.Mismatch.Expand(vars)}
	}
	ok, err := l.Map.Owns(env.AuthUser, a, l.Delimiter)
	switch {
	case err != nil:
		return Result{Status: TempError, Reason: ReasonLoginTempError, Text: err.Error(), Reply: l.Temp.Expand(vars)}
	case !ok:
		return Result{Status: Fail, Reason: reason, Text: fmt.Sprintf("%s is not among the addresses of login %s", a, env.AuthUser),
			Reply: l.Mismatch.Expand(vars)}
	}
	return Result{Status: Pass, Reason: ReasonLoginOwned, Text: a.String() + " belongs to " + env.AuthUser}
}

// LoginMap is the logins file, in the manner of Postfix's
// smtpd_sender_login_maps turned around: one login a line, followed by the
// addresses it may send as, "@domain" for a whole domain:
//
//	www      www@example.org noreply@example.org
//	alice    alice@example.org @alice.example
//
// A login on several lines owns all their addresses. The file is read
// again when it changes.
type LoginMap struct {
	file *LineFile

	mu    sync.Mutex
	gen   int
	owned map[string]map[string]bool // login → address or "@domain"
}

// LoadLoginMap reads the logins file at path.
func LoadLoginMap(path string, now func() time.Time) (*LoginMap, error) {
	f, err := LoadLineFile(path, func(line string) error { _, _, err := ParseLoginLine(line); return err }, now)
	if err != nil {
		return nil, err
	}
	return &LoginMap{file: f}, nil
}

// ParseLoginLine reads one line of a logins file: the login and the
// addresses ("local@domain", domain lowercased) and "@domain" entries.
func ParseLoginLine(line string) (login string, owned []string, err error) {
	fields := strings.Fields(line)
	if len(fields) < 2 {
		return "", nil, fmt.Errorf("want \"LOGIN ADDRESS|@DOMAIN ...\", got %q", Sanitize(line))
	}
	for _, f := range fields[1:] {
		if d, ok := strings.CutPrefix(f, "@"); ok {
			if !IsFQDN(d) || strings.HasPrefix(d, "[") {
				return "", nil, fmt.Errorf("want an address or @domain, got %q", Sanitize(f))
			}
			owned = append(owned, "@"+strings.ToLower(strings.TrimSuffix(d, ".")))
			continue
		}
		a, err := ParseAddress(f)
		if err != nil || a.Domain == "" {
			return "", nil, fmt.Errorf("want an address or @domain, got %q", Sanitize(f))
		}
		owned = append(owned, a.String())
	}
	return fields[0], owned, nil
}

// Owns reports whether login may send as a (local parts compared as
// written, domains without case).
func (m *LoginMap) Owns(login string, a Address, delimiter string) (bool, error) {
	lines, gen := m.file.Lines()
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.owned == nil || gen != m.gen {
		owned := map[string]map[string]bool{}
		for _, line := range lines {
			l, addrs, err := ParseLoginLine(line)
			if err != nil {
				continue // checked when read
			}
			if owned[l] == nil {
				owned[l] = map[string]bool{}
			}
			for _, x := range addrs {
				owned[l][x] = true
			}
		}
		m.owned, m.gen = owned, gen
	}
	if m.owned == nil {
		return false, m.file.Err()
	}
	set := m.owned[login]
	if set[a.String()] || set["@"+a.Domain] {
		return true, nil
	}
	if delimiter != "" && !strings.HasPrefix(a.Local, `"`) {
		if base, _, ok := strings.Cut(a.Local, delimiter); ok && base != "" {
			return set[base+"@"+a.Domain], nil
		}
	}
	return false, nil
}

// The login check's reasons (its log's mailsift.checks.login.reason, and keys of its actions).
const (
	ReasonLoginOwned            = "login-owned"
	ReasonLoginNullSender       = "login-null-sender"
	ReasonLoginMismatch         = "login-mismatch"
	ReasonLoginFromMismatch     = "login-from-mismatch"
	ReasonLoginTempError        = "login-temperror"
	ReasonLoginNotAuthenticated = "login-not-authenticated"
)

func loginReasons() []string {
	return []string{ReasonLoginOwned, ReasonLoginNullSender, ReasonLoginMismatch, ReasonLoginFromMismatch, ReasonLoginTempError, ReasonLoginNotAuthenticated}
}

// NewLogin builds the login check from its table, the loaded logins map
// and [checks.recipient] delimiter.
func NewLogin(t *OutboundLoginCheck, m *LoginMap, delimiter string) Check {
	return &Login{Map: m, FromHeader: t.FromHeader, Delimiter: delimiter,
		Mismatch: t.Reply(LoginName, "mismatch"), Temp: t.Reply(LoginName, "temp")}
}
