package callout

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"sort"
	"strconv"
	"strings"

	"github.com/mailsift/mailsift/internal/resolver"
)

// Caps on the work one probe may do.
const (
	maxHosts       = 5 // MX hosts tried
	maxAddrsOfHost = 2 // addresses tried per host
)

// probe asks the domain's servers, in MX preference order, about
// local@domain. A server that is unreachable or answers 4xx is passed over
// for the next; the first definite answer wins.
func (v *Verifier) probe(ctx context.Context, local, domain string) Outcome {
	hosts, out := v.hosts(ctx, domain)
	if out != nil {
		return *out
	}
	last := Outcome{Status: Unknown, Detail: "no server of " + domain + " answered"}
	for _, host := range hosts[:min(len(hosts), maxHosts)] {
		addrs, err := v.cfg.DNS.LookupIP(ctx, host)
		if err != nil {
			last = Outcome{Status: Unknown, MX: host, Detail: err.Error()}
			continue
		}
		for _, ip := range addrs[:min(len(addrs), maxAddrsOfHost)] {
			mx := host + " [" + ip.String() + "]"
			if why := v.refusal(ip); why != "" {
				// The domain sends us where we must not go: no evidence
				// either way, and not worth asking again soon.
				v.cfg.Refused(domain, mx, why)
				return Outcome{Status: Unverifiable, MX: mx, Detail: mx + ": " + why + ", not probed"}
			}
			if !v.takeTarget(ip) {
				last = Outcome{Status: Limited, MX: mx, Detail: "probes to " + mx + " at the rate limit"}
				continue
			}
			o := v.talk(ctx, host, ip, local, domain)
			if o.Status != Unknown {
				return o
			}
			last = o
			if ctx.Err() != nil {
				return last
			}
		}
	}
	return last
}

// hosts returns the servers to ask: the MX hosts by preference, or the
// domain itself when it has no MX (RFC 5321 §5.1).
func (v *Verifier) hosts(ctx context.Context, domain string) ([]string, *Outcome) {
	mxs, err := v.cfg.DNS.LookupMX(ctx, domain)
	switch {
	case err == nil:
	case resolver.IsNoData(err):
		return []string{domain}, nil
	case resolver.IsNotFound(err):
		return nil, &Outcome{Status: NoProbe, Detail: domain + " does not exist"}
	default:
		return nil, &Outcome{Status: Unknown, Detail: err.Error()}
	}
	sort.SliceStable(mxs, func(i, j int) bool { return mxs[i].Pref < mxs[j].Pref })
	var hosts []string
	for _, mx := range mxs {
		if mx.Host == "" { // RFC 7505 null MX: the domain takes no mail
			return nil, &Outcome{Status: NoProbe, Detail: domain + " publishes a null MX"}
		}
		hosts = append(hosts, mx.Host)
	}
	return hosts, nil
}

// talk runs one SMTP dialogue: greeting, EHLO, STARTTLS when offered (the
// certificate unverified, as MTAs do opportunistically), MAIL FROM, RCPT
// TO, QUIT. Never DATA.
func (v *Verifier) talk(ctx context.Context, host string, ip netip.Addr, local, domain string) Outcome {
	mx := host + " [" + ip.String() + "]"
	unknown := func(detail string) Outcome { return Outcome{Status: Unknown, MX: mx, Detail: detail} }
	dctx, cancel := context.WithTimeout(ctx, v.cfg.DialTimeout)
	conn, err := v.cfg.Dial(dctx, "tcp", net.JoinHostPort(ip.String(), strconv.Itoa(v.cfg.Port)))
	cancel()
	if err != nil {
		return unknown(err.Error())
	}
	// net/smtp takes no context: close the connection when ctx ends, so a
	// silent server cannot hold the probe.
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	defer conn.Close()

	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return v.answer(mx, "greeting", err, unknown)
	}
	if err := c.Hello(v.cfg.Hostname); err != nil {
		return v.answer(mx, "EHLO", err, unknown)
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, InsecureSkipVerify: true}); err != nil {
			return unknown("STARTTLS: " + err.Error())
		}
	}
	if err := c.Mail(v.cfg.ProbeSender); err != nil {
		if code, line := replyOf(err); code/100 == 5 {
			// RFC 5321 §4.5.5 says servers must accept <>; one that does not
			// cannot be verified, which is no evidence against the sender.
			return Outcome{Status: Unverifiable, MX: mx, Reply: line, Detail: "MAIL FROM refused"}
		}
		return v.answer(mx, "MAIL FROM", err, unknown)
	}
	addr := local + "@" + domain
	if err := c.Rcpt(addr); err != nil {
		if code, line := replyOf(err); code/100 == 5 {
			c.Quit()
			return Outcome{Status: Undeliverable, MX: mx, Reply: line, Detail: "RCPT TO refused"}
		}
		return v.answer(mx, "RCPT TO", err, unknown)
	}
	out := Outcome{Status: Deliverable, MX: mx, Reply: "250", Detail: "RCPT TO accepted"}
	if v.cfg.DetectAcceptAll {
		if err := c.Reset(); err == nil && c.Mail(v.cfg.ProbeSender) == nil && c.Rcpt(randomLocal()+"@"+domain) == nil {
			out = Outcome{Status: AcceptAll, MX: mx, Reply: "250", Detail: "a random local part is accepted too"}
		}
	}
	c.Quit()
	return out
}

// answer turns a failed step into an Outcome: a reply is quoted, anything
// else (a dropped connection, a timeout) is just unknown.
func (v *Verifier) answer(mx, step string, err error, unknown func(string) Outcome) Outcome {
	if _, line := replyOf(err); line != "" {
		o := unknown(step + ": " + line)
		o.Reply = line
		return o
	}
	return unknown(step + ": " + err.Error())
}

// replyOf returns the SMTP reply carried by err, as one line.
func replyOf(err error) (int, string) {
	var te *textproto.Error
	if !errors.As(err, &te) {
		return 0, ""
	}
	msg := strings.Join(strings.Fields(te.Msg), " ")
	return te.Code, fmt.Sprintf("%d %s", te.Code, msg)
}

func randomLocal() string {
	b := make([]byte, 8)
	rand.Read(b)
	return "mailsift-probe-" + hex.EncodeToString(b)
}
