// Package dkimsign signs outbound mail with DKIM (RFC 6376; Ed25519 keys
// RFC 8463) through go-msgauth: relaxed/relaxed canonicalization, the From
// header oversigned, the message streamed into the signer as the MTA sends
// it, and the signature header handed back at the end of the message.
//
// Keys live in a folder of DOMAIN.SELECTOR.key files, each a PEM private
// key (PKCS#8, or PKCS#1 for RSA), as "mailsift dkim keygen" writes them.
package dkimsign

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/emersion/go-msgauth/dkim"
)

// Key is one signing key.
type Key struct {
	Domain   string // lowercased, no final dot
	Selector string
	Signer   crypto.Signer
	Path     string
}

// Algorithm is "rsa" or "ed25519".
func (k *Key) Algorithm() string {
	if _, ok := k.Signer.Public().(ed25519.PublicKey); ok {
		return "ed25519"
	}
	return "rsa"
}

// Keys are the keys of a folder, by domain.
type Keys struct {
	Dir      string
	byDomain map[string]*Key
}

// Suffix is the file name suffix of a key file.
const Suffix = ".key"

// LoadDir reads every DOMAIN.SELECTOR.key file of dir. A file that cannot
// be read or parsed is left out and reported in errs, naming the file, so
// that the other domains are still signed; err is set when the folder
// itself cannot be read. Of several keys for one domain, the selector
// first in lexical order is used.
func LoadDir(dir string) (keys *Keys, errs []error, err error) {
	keys = &Keys{Dir: dir, byDomain: map[string]*Key{}}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return keys, nil, fmt.Errorf("dkim keys: %w", err)
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	for _, e := range ents {
		if e.IsDir() || !strings.HasSuffix(e.Name(), Suffix) {
			continue
		}
		k, err := LoadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if _, ok := keys.byDomain[k.Domain]; !ok {
			keys.byDomain[k.Domain] = k
		}
	}
	return keys, errs, nil
}

// SplitName reads DOMAIN.SELECTOR.key: the selector is the last label
// before ".key", the domain the labels before it.
func SplitName(name string) (domain, selector string, err error) {
	base, ok := strings.CutSuffix(name, Suffix)
	i := strings.LastIndexByte(base, '.')
	if !ok || i <= 0 || i == len(base)-1 || !strings.Contains(base[:i], ".") {
		return "", "", fmt.Errorf("%s: want a file named DOMAIN.SELECTOR.key, such as example.org.mail2026.key", name)
	}
	return strings.ToLower(strings.TrimSuffix(base[:i], ".")), base[i+1:], nil
}

// LoadFile reads one key file.
func LoadFile(path string) (*Key, error) {
	domain, selector, err := SplitName(filepath.Base(path))
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s, err := ParsePEM(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Key{Domain: domain, Selector: selector, Signer: s, Path: path}, nil
}

// ParsePEM reads an RSA or Ed25519 private key in PEM: PKCS#8 ("PRIVATE
// KEY") or PKCS#1 ("RSA PRIVATE KEY"). RSA keys under 1024 bits are
// refused (RFC 8301 §3.2).
func ParsePEM(b []byte) (crypto.Signer, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("no PEM block; want a PEM private key (RSA or Ed25519)")
	}
	var key any
	var err error
	switch blk.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q: want \"PRIVATE KEY\" or \"RSA PRIVATE KEY\"", blk.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("PEM block %q: %w", blk.Type, err)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if k.N.BitLen() < 1024 {
			return nil, fmt.Errorf("RSA key of %d bits: want at least 1024 (RFC 8301), 2048 recommended", k.N.BitLen())
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("key type %T: want RSA or Ed25519", key)
}

// For returns the key that signs mail from domain: the key of domain
// itself, or else of its nearest parent domain (still aligned under
// DMARC's relaxed mode), or nil.
func (ks *Keys) For(domain string) *Key {
	if ks == nil {
		return nil
	}
	d := strings.ToLower(strings.TrimSuffix(domain, "."))
	for d != "" {
		if k, ok := ks.byDomain[d]; ok {
			return k
		}
		_, rest, ok := strings.Cut(d, ".")
		if !ok || !strings.Contains(rest, ".") {
			break // never sign with a key filed under a bare TLD
		}
		d = rest
	}
	return nil
}

// Domains lists the domains that have a key.
func (ks *Keys) Domains() []string {
	if ks == nil {
		return nil
	}
	out := make([]string, 0, len(ks.byDomain))
	for d := range ks.byDomain {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// signedHeaders are the header fields signed when present (RFC 6376
// §5.4.1); From is also signed once more than it occurs, so that a From
// added later breaks the signature (oversigning).
var signedHeaders = []string{"From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
	"MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Sender"}

// HeaderKeys returns the h= list for a message with these header field
// names: each signed field as often as it occurs, From once more.
func HeaderKeys(names []string) []string {
	count := map[string]int{}
	for _, n := range names {
		count[strings.ToLower(n)]++
	}
	var keys []string
	for _, h := range signedHeaders {
		n := count[strings.ToLower(h)]
		if strings.EqualFold(h, "From") {
			n++
		}
		for range n {
			keys = append(keys, h)
		}
	}
	return keys
}

// Stream signs one message: write the header block (CRLF line ends, an
// empty line after it) and the body, then call Finish.
type Stream struct {
	s   *dkim.Signer
	err error
}

// NewStream starts signing with k a message whose header field names are
// names, in order.
func NewStream(k *Key, names []string) (*Stream, error) {
	opts := &dkim.SignOptions{Domain: k.Domain, Selector: k.Selector, Signer: k.Signer,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: HeaderKeys(names)}
	s, err := dkim.NewSigner(opts)
	if err != nil {
		return nil, fmt.Errorf("dkim sign %s (%s): %w", k.Domain, k.Path, err)
	}
	return &Stream{s: s}, nil
}

// Write implements io.Writer. After an error, writes are dropped and
// Finish reports it.
func (st *Stream) Write(p []byte) (int, error) {
	if st.err != nil {
		return len(p), nil
	}
	if _, err := st.s.Write(p); err != nil {
		st.err = err
	}
	return len(p), nil
}

// Abort drops the message.
func (st *Stream) Abort() { st.s.Close() }

// Finish ends the message and returns the DKIM-Signature field's value,
// folded with LF line breaks as the milter protocol carries them.
func (st *Stream) Finish() (string, error) {
	err := st.s.Close()
	if st.err != nil {
		err = st.err
	}
	if err != nil {
		return "", fmt.Errorf("dkim sign: %w", err)
	}
	f := st.s.Signature()
	_, v, _ := strings.Cut(f, ":")
	v = strings.TrimRight(strings.TrimLeft(v, " "), "\r\n")
	return strings.ReplaceAll(v, "\r\n", "\n"), nil
}

var _ io.Writer = (*Stream)(nil)

// TXT returns the DNS TXT record that publishes k's public key, and the
// name it goes under.
func TXT(k *Key) (name, value string, err error) {
	name = k.Selector + "._domainkey." + k.Domain
	switch pub := k.Signer.Public().(type) {
	case *rsa.PublicKey:
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return "", "", err
		}
		return name, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(der), nil
	case ed25519.PublicKey:
		return name, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub), nil
	}
	return "", "", fmt.Errorf("key type %T: want RSA or Ed25519", k.Signer.Public())
}

// SigningDomain returns the domain we sign mail from domain for (d=), or
// "" when no key covers it.
func (ks *Keys) SigningDomain(domain string) string {
	if k := ks.For(domain); k != nil {
		return k.Domain
	}
	return ""
}
