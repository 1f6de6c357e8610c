// Package config is mailsift's configuration file format: TOML, strict
// (an unknown key is an error), durations, networks and listen addresses,
// and errors that name the file and the line. It knows no section's
// meaning: each part of mailsift (each check, in its own table) declares
// its keys, defaults and validation, and the settings package puts them
// together.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is a configuration error at a place in a file.
type Error struct {
	File string
	Line int // 0 when the line is not known
	Msg  string
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// KeyErr is a validation error about one key, named in full
// ("checks.helo.actions.fail"); Decode puts the key's line to it.
type KeyErr struct{ Key, Msg string }

func (e *KeyErr) Error() string { return e.Key + ": " + e.Msg }

// Errorf returns a *KeyErr about key.
func Errorf(key, format string, args ...any) error {
	return &KeyErr{Key: key, Msg: fmt.Sprintf(format, args...)}
}

// Validator is a configuration that checks itself once decoded.
type Validator interface {
	Validate() error
}

var (
	lineRE    = regexp.MustCompile(`^line (\d+)`)
	lastKeyRE = regexp.MustCompile(`^\(last key "([^"]*)"\): `)
)

// Decode reads data into v, which holds the defaults, and validates it;
// name is the file name for errors. An unknown key is an error, and every
// error names the file and, where it can, the line.
func Decode(name string, data []byte, v Validator) error {
	if !utf8Valid(data) {
		return &Error{File: name, Msg: "not UTF-8 text; want a TOML file"}
	}
	md, err := toml.NewDecoder(bytes.NewReader(data)).Decode(v)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			msg := pe.Message
			if pe.LastKey != "" && !strings.HasPrefix(msg, pe.LastKey+":") {
				msg = pe.LastKey + ": " + msg
			}
			return &Error{File: name, Line: pe.Position.Line, Msg: msg}
		}
		e := &Error{File: name, Msg: strings.TrimPrefix(err.Error(), "toml: ")}
		if m := lineRE.FindStringSubmatch(e.Msg); m != nil {
			e.Line, _ = strconv.Atoi(m[1])
			e.Msg = strings.TrimSpace(lineRE.ReplaceAllString(e.Msg, ""))
		}
		if m := lastKeyRE.FindStringSubmatch(e.Msg); m != nil {
			e.Msg = m[1] + ": " + e.Msg[len(m[0]):]
		}
		return e
	}
	lines := keyLines(data)
	if und := md.Undecoded(); len(und) > 0 {
		k := und[0].String()
		return &Error{File: name, Line: lines[k], Msg: fmt.Sprintf("unknown key %q; see contrib/mailsift.toml for the keys there are", k)}
	}
	if err := v.Validate(); err != nil {
		var ke *KeyErr
		if errors.As(err, &ke) {
			return &Error{File: name, Line: lines[ke.Key], Msg: ke.Key + ": " + ke.Msg}
		}
		return &Error{File: name, Msg: err.Error()}
	}
	return nil
}

// Encode writes v as TOML.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	err := toml.NewEncoder(&b).Encode(v)
	return b.Bytes(), err
}

// KeyError returns err as an error at key of the configuration file path,
// with the key's line, as Decode gives its own: for what only the users of
// a key can check, such as the file it names, which they load. path "" is
// the built-in default.
func KeyError(path, key string, err error) error {
	e := &Error{File: path, Msg: key + ": " + err.Error()}
	if path == "" {
		e.File = "built-in default"
	} else if data, rerr := os.ReadFile(path); rerr == nil {
		e.Line = keyLines(data)[key]
	}
	return e
}

func utf8Valid(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// ValidPort reports whether p is a port number, 0 included.
func ValidPort(p string) bool {
	n, err := strconv.Atoi(p)
	return err == nil && n >= 0 && n < 65536
}

// ValidHostPort reports whether s is "HOST:PORT" with a port from 1.
func ValidHostPort(s string) bool {
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		return false
	}
	p, err := strconv.Atoi(s[i+1:])
	return err == nil && p > 0 && p < 65536
}

// ReadSecret reads a secret (a token, a password) from a file: its first
// line, without surrounding white space, from the first 4 KiB (a path such
// as /dev/zero cannot hang it). The error names the file, never the secret.
func ReadSecret(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 4096))
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	s := strings.TrimSpace(line)
	if s == "" {
		return "", fmt.Errorf("%s: empty; want the secret on its first line", path)
	}
	return s, nil
}

// MustPrefix parses a network for a default; it panics on a bad one.
func MustPrefix(s string) Prefix {
	var p Prefix
	if err := p.UnmarshalText([]byte(s)); err != nil {
		panic(err)
	}
	return p
}
