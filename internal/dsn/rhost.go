package dsn

import (
	_ "embed"
	"net"
	"strconv"
	"strings"
)

// The remote hosts' documented replies: a port of go-sisimai's rhost
// package (rhost/lib.go and rhost/for-*.go, BSD 2-Clause; source and
// licence in testdata/dsn/SOURCE). For the mail services sisimai knows
// (Google, Microsoft, Yahoo, ...) the service's published reply codes and
// wording name the reason before the generic phrase lists do. The tables
// are data (sisimai-rhosts.txt, generated from the Go sources); how each
// service's rows are matched is the module's own and is ported below, one
// function per module. Two reason names sisimai misspells, so that the
// row names no reason there, are corrected in the file: for-tencent.go's
// "spandetected" is spamdetected, for-spectrum.go's "blokced" is blocked.

//go:embed sisimai-rhosts.txt
var rhostData string

// rhostRow is one documented reply: the reason, the reply code and status
// it must come with ("" for any) and the phrase it must carry.
type rhostRow struct{ reason, reply, status, phrase string }

// rhostCode is one of a service's own error codes ("AUP#CXBL", "IB401",
// "POL-P1") and its reason ("" names none).
type rhostCode struct{ reason, code string }

// rhostClass is one service of rhost/lib.go RhostClass.
type rhostClass struct {
	name  string
	hosts []string // host name suffixes
	rows  []rhostRow
	codes []rhostCode
}

// rhosts is read once from the embedded file; it is never written after.
var rhosts = parseRhosts(rhostData)

func parseRhosts(data string) []*rhostClass {
	var out []*rhostClass
	var cur *rhostClass
	none := func(s string) string {
		if s == "-" {
			return ""
		}
		return s
	}
	tableLines(data, func(name string) {
		cur = &rhostClass{name: name}
		out = append(out, cur)
	}, func(f []string) {
		switch {
		case cur == nil:
		case f[0] == "host" && len(f) == 2:
			cur.hosts = append(cur.hosts, f[1])
		case f[0] == "code" && len(f) == 3:
			cur.codes = append(cur.codes, rhostCode{reason: none(f[1]), code: f[2]})
		case f[0] == "row" && len(f) == 5:
			cur.rows = append(cur.rows, rhostRow{reason: f[1], reply: none(f[2]), status: none(f[3]), phrase: f[4]})
		}
	})
	return out
}

// rhostName is the service a failed recipient was sent to, as rhost/lib.go
// Name: the recipient's domain is the tail of a service's host name
// ("me.com", "cox.net"), else the remote host's or the reporting host's
// name ends with one. sisimai compares with strings.HasSuffix, which an
// empty destination always matches; here an empty destination matches
// nothing, and the domain must end at a label.
func rhostName(f *fact) *rhostClass {
	if d := strings.TrimSuffix(f.destination, "."); d != "" {
		for _, c := range rhosts {
			for _, h := range c.hosts {
				if h == d || strings.HasSuffix(h, "."+d) {
					return c
				}
			}
		}
	}
	for _, host := range []string{f.rhost, f.lhost} {
		host = hostName(host)
		if host == "" {
			continue
		}
		for _, c := range rhosts {
			for _, h := range c.hosts {
				if strings.HasSuffix(host, h) {
					return c
				}
			}
		}
	}
	return nil
}

// hostName is the host name in a Remote-MTA or Reporting-MTA value, as
// fact/rise.go cleans it: the domain of an address, no brackets, the
// value after "=", the first word that is not an IPv4 address, no final
// dot ("mx.example.jp (192.0.2.1)" is mx.example.jp).
func hostName(v string) string {
	if i := strings.IndexByte(v, '@'); i > 0 {
		v = v[i+1:]
	}
	v = strings.NewReplacer("(", "", ")", "", "[", "", "]", "", "\r", "").Replace(v)
	if _, after, ok := strings.Cut(v, "="); ok {
		v = after
	}
	if strings.IndexByte(v, ' ') >= 0 {
		words := strings.Split(v, " ")
		v = words[0]
		for _, w := range words {
			if net.ParseIP(w).To4() == nil {
				v = w
				break
			}
		}
	}
	return strings.TrimSuffix(v, ".")
}

// rhostFind is the reason a remote host's documented replies name (go-sisimai
// rhost/*.go), or "".
func (t *reasonTable) rhostFind(f *fact) string {
	c := rhostName(f)
	if c == nil || f.text == "" {
		return ""
	}
	text := f.text
	if len(text) > maxClassify {
		text = text[:maxClassify]
	}
	text = diagnosis(text, f.reply)
	low := strings.ToLower(text)
	switch c.name {
	case "Google":
		return c.google(f, low)
	case "Microsoft":
		return c.microsoft(f, low)
	case "Mimecast":
		return c.mimecast(f, low)
	case "Aol", "MessageLabs", "Outlook":
		return c.phrase(text)
	case "GSuite":
		return c.gsuite(f, text)
	case "Cox":
		return c.cox(text, low)
	case "GoDaddy":
		return c.godaddy(text, low)
	case "FrancePTT":
		return c.franceptt(low)
	case "IUA":
		return c.code(sisimaiSelect(low, ".i.ua/err/", "/"))
	case "Spectrum":
		return c.spectrum(text)
	case "Facebook":
		return c.facebook(text)
	case "NTTDOCOMO":
		return c.nttdocomo(f, low)
	}
	return c.phrase(low) // Apple, KDDI, Tencent, YahooInc
}

// diagnosis is the reply as sisimai keeps it (fact/rise.go,
// DIAGNOSTICCODE): a multi-line reply ("550-5.7.1 ... 550 5.7.1 ...")
// loses its continuation prefixes, so that a phrase broken over two lines
// is one again, and starts with its codes; spaces squeezed.
func diagnosis(text, reply string) string {
	if len(reply) == 3 && strings.Contains(text, reply+"-") {
		st := FindStatus(text)
		for _, q := range []string{"-", " "} {
			if st != "" {
				text = strings.ReplaceAll(text, reply+q+st, "")
			}
			text = strings.ReplaceAll(text, reply+q, "")
		}
		if strings.Contains(text, reply) {
			text = reply + " " + st + " " + text
		}
	}
	return strings.Join(strings.Fields(text), " ")
}

// sisimaiSelect is sisimai's string Select(s, begin, until, 0): the text
// between begin and the next until, which is looked for from the second
// byte after begin on.
func sisimaiSelect(s, begin, until string) string {
	if len(s) < 3 || len(s) <= len(begin)+len(until) {
		return ""
	}
	i := strings.Index(s, begin)
	if i < 0 || i+len(begin)+1 > len(s) {
		return ""
	}
	j := strings.Index(s[i+len(begin)+1:], until)
	if j < 0 {
		return ""
	}
	return s[i+len(begin) : i+len(begin)+1+j]
}

// phrase is the first row whose phrase s carries (sisimoji.ContainsAny).
func (c *rhostClass) phrase(s string) string {
	for _, r := range c.rows {
		if strings.Contains(s, r.phrase) {
			return r.reason
		}
	}
	return ""
}

// code is the reason of the error code, or "".
func (c *rhostClass) code(code string) string {
	if code == "" {
		return ""
	}
	for _, e := range c.codes {
		if e.code == code {
			return e.reason
		}
	}
	return ""
}

func validReply(r string) bool {
	return len(r) == 3 && r[0] >= '2' && r[0] <= '5' && r[1] >= '0' && r[1] <= '9' && r[2] >= '0' && r[2] <= '9'
}

func validStatus(s string) bool {
	p := strings.Split(s, ".")
	if len(p) != 3 || len(s) < 5 || s[0] < '2' || s[0] > '5' || len(p[0]) != 1 {
		return false
	}
	for _, v := range p[1:] {
		if v == "" || len(v) > 3 || strings.Trim(v, "0123456789") != "" {
			return false
		}
	}
	return true
}

// google is rhost/for-google.go: the reply code and the status (each
// compared without its first digit, the status as a prefix: sisimai's
// strings.Index tests) and the phrase.
func (c *rhostClass) google(f *fact, low string) string {
	if !validReply(f.reply) || !validStatus(f.status) {
		return ""
	}
	reply, status := f.reply[1:], f.status[2:]
	for _, r := range c.rows {
		if strings.Contains(low, r.phrase) && strings.Index(r.reply, reply) >= 1 && strings.Index(r.status, status) >= 2 {
			return r.reason
		}
	}
	return ""
}

// microsoft is rhost/for-microsoft.go: the status, exactly or within a
// range of its third field ("5.7.606-649"), and the phrase.
func (c *rhostClass) microsoft(f *fact, low string) string {
	if !validStatus(f.status) {
		return ""
	}
	third, err := strconv.ParseUint(f.status[strings.LastIndexByte(f.status, '.')+1:], 10, 16)
	if err != nil {
		return ""
	}
	for _, r := range c.rows {
		if from, to, ok := strings.Cut(r.status, "-"); ok {
			dot := strings.LastIndexByte(from, '.')
			p1, err1 := strconv.ParseUint(from[dot+1:], 10, 16)
			p2, err2 := strconv.ParseUint(to, 10, 16)
			if !strings.Contains(f.status, from[:dot+1]) || err1 != nil || err2 != nil || third < p1 || third > p2 {
				continue
			}
		} else if f.status != r.status {
			continue
		}
		if strings.Contains(low, r.phrase) {
			return r.reason
		}
	}
	return ""
}

// mimecast is rhost/for-mimecast.go: the reply code and the phrase.
func (c *rhostClass) mimecast(f *fact, low string) string {
	if !validReply(f.reply) {
		return ""
	}
	for _, r := range c.rows {
		if r.reply == f.reply && strings.Contains(low, r.phrase) {
			return r.reason
		}
	}
	return ""
}

// gsuite is rhost/for-gsuite.go: its phrases as written, but a network
// error is never a 5xx and an unknown host always is.
func (c *rhostClass) gsuite(f *fact, text string) string {
	st, rp := "", ""
	if f.status != "" {
		st = f.status[:1]
	}
	if f.reply != "" {
		rp = f.reply[:1]
	}
	for _, r := range c.rows {
		if !strings.Contains(text, r.phrase) {
			continue
		}
		if r.reason == "networkerror" && (st == "5" || rp == "5") ||
			r.reason == "hostunknown" && (st == "4" || st == "" || rp == "4" || rp == "") {
			continue
		}
		return r.reason
	}
	return ""
}

// cox is rhost/for-cox.go: the code after "AUP#" ("AUP#CXBL"), else the
// phrases.
func (c *rhostClass) cox(text, low string) string {
	if r := c.code(sisimaiSelect(text+" ", "AUP#", " ")); r != "" {
		return r
	}
	return c.phrase(low)
}

// godaddy is rhost/for-godaddy.go: the code after " IB" ("IB401"), else
// the phrases.
func (c *rhostClass) godaddy(text, low string) string {
	if r := c.code("IB" + sisimaiSelect(text, " IB", " ")); r != "" {
		return r
	}
	return c.phrase(low)
}

// franceptt is rhost/for-franceptt.go: the number after one of the labels
// ("LPN007_510", "OFR_999"), else the phrases.
func (c *rhostClass) franceptt(low string) string {
	low = strings.ReplaceAll(low, "_", "-")
	for _, label := range []string{"lpn", "lpnaaa", "ofr", "ouk"} {
		i := strings.LastIndex(low, label)
		if i < 0 {
			continue
		}
		if strings.Contains(low, label+"-") {
			label += "-"
		}
		number, _, _ := strings.Cut(low[i+len(label)-1:], " ")
		for _, e := range c.codes {
			if strings.HasSuffix(number, e.code) {
				return e.reason
			}
		}
		break
	}
	return c.phrase(low)
}

// spectrum is rhost/for-spectrum.go: the four digits after "AUP#", one
// code or a range.
func (c *rhostClass) spectrum(text string) string {
	i := strings.Index(text, "AUP#")
	if i < 0 {
		return ""
	}
	code := ""
	for _, b := range []byte(text[i+4:]) {
		if len(code) == 4 {
			break
		}
		if b < '0' || b > '9' {
			code = ""
			continue
		}
		code += string(b)
	}
	if len(code) != 4 {
		return ""
	}
	n, _ := strconv.Atoi(code)
	for _, e := range c.codes {
		from, to, ranged := strings.Cut(e.code, "-")
		if code == from {
			return e.reason
		}
		if !ranged {
			continue
		}
		lo, err1 := strconv.Atoi(from)
		hi, err2 := strconv.Atoi(to)
		if err1 == nil && err2 == nil && n >= lo && n <= hi {
			return e.reason
		}
	}
	return ""
}

// facebook is rhost/for-facebook.go: the label around the first "-"
// ("POL-P1").
func (c *rhostClass) facebook(text string) string {
	i := strings.IndexByte(text, '-')
	if i < 3 || i+3 > len(text) {
		return ""
	}
	return c.code(text[i-3 : i+3])
}

// nttdocomo is rhost/for-nttdocomo.go: the status decides, then the
// phrases, then a 5.0.0 by the SMTP command.
func (c *rhostClass) nttdocomo(f *fact, low string) string {
	switch f.status {
	case "5.1.1", "5.0.911":
		return "userunknown"
	case "5.2.0":
		return "filtered"
	}
	if r := c.phrase(low); r != "" {
		return r
	}
	if f.status == "5.0.0" {
		switch f.command {
		case "RCPT":
			return "userunknown"
		case "DATA":
			return "rejected"
		}
	}
	return ""
}
