package dkimsign

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Generate makes a new key: "rsa" (2048 bits) or "ed25519".
func Generate(typ string) (crypto.Signer, error) {
	switch typ {
	case "rsa":
		return rsa.GenerateKey(rand.Reader, 2048)
	case "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		return k, err
	}
	return nil, fmt.Errorf("key type %q: want rsa or ed25519", typ)
}

// WriteKey generates a key of typ for domain and selector and writes it
// to dir/DOMAIN.SELECTOR.key, mode 0600, refusing to overwrite a key.
func WriteKey(dir, domain, selector, typ string) (*Key, error) {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	if !strings.Contains(domain, ".") || strings.ContainsAny(domain, "/ \t") || strings.HasPrefix(domain, ".") {
		return nil, fmt.Errorf("domain %q: want a domain name such as example.org", domain)
	}
	if selector == "" || strings.ContainsAny(selector, "./ \t") {
		return nil, fmt.Errorf("selector %q: want one DNS label such as mail2026", selector)
	}
	s, err := Generate(typ)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(s)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, domain+"."+selector+Suffix)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, os.ErrExist) {
		return nil, fmt.Errorf("%s exists: remove it first, or choose another selector", path)
	}
	if err != nil {
		return nil, err
	}
	if err := pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der}); err != nil {
		f.Close()
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &Key{Domain: domain, Selector: selector, Signer: s, Path: path}, nil
}
