package greylist

import (
	"net/netip"
	"regexp"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// ClientID is who the client is for greylisting, and how it was found.
type ClientID struct {
	Key  string // "org:example.net" or "net:192.0.2.0/24"
	Kind string // "org-domain" or "network"
}

// Client returns the client key: the organizational domain of a
// forward-confirmed hostname when useOrg (so that a sender's pool of
// outbound servers counts as one client: its retry may come from another
// address), else the client address masked to v4/v6 bits. verified must
// be a name the ptr check confirmed: an unverified PTR is chosen by whoever
// holds the reverse zone.
func Client(ip netip.Addr, verified string, useOrg bool, v4, v6 int) ClientID {
	if useOrg && verified != "" {
		if org, err := publicsuffix.EffectiveTLDPlusOne(strings.ToLower(strings.TrimSuffix(verified, "."))); err == nil {
			return ClientID{Key: "org:" + org, Kind: "org-domain"}
		}
	}
	bits := v4
	if ip.Is6() {
		bits = v6
	}
	p, err := ip.Prefix(bits)
	if err != nil {
		return ClientID{Key: "net:" + ip.String(), Kind: "network"}
	}
	return ClientID{Key: "net:" + p.String(), Kind: "network"}
}

var (
	batvRE = regexp.MustCompile(`^(?i:prvs|msprvs\d*|btv1)=+[^=]*=+(.+)$`)
	srsRE  = regexp.MustCompile(`^(?i)(srs[01])[=+-][^=]*=[^=]*=(.+)$`)
	numRE  = regexp.MustCompile(`\b\d+\b`)
)

// NormalizeSender maps the envelope sender so that the retries of one
// message map to one triplet, as postgrey does: the domain lowercased, the
// +extension stripped (delimiter ""  for none), BATV and SRS tags
// dropped, and numbers that VERP puts in the local part replaced by "#".
func NormalizeSender(sender, delimiter string) string {
	if sender == "" {
		return "<>"
	}
	at := strings.LastIndexByte(sender, '@')
	local, domain := sender, ""
	if at >= 0 {
		local, domain = sender[:at], strings.ToLower(sender[at+1:])
	}
	if m := batvRE.FindStringSubmatch(local); m != nil {
		local = m[1]
	}
	if m := srsRE.FindStringSubmatch(local); m != nil {
		local = strings.ToLower(m[1]) + "=#=" + m[2]
	}
	if delimiter != "" {
		if i := strings.Index(local, delimiter); i > 0 {
			local = local[:i]
		}
	}
	local = numRE.ReplaceAllString(local, "#")
	if domain == "" {
		return local
	}
	return local + "@" + domain
}
