package resolver

import (
	"errors"
	"fmt"
)

// The classes of lookup failure. Checks must tell them apart: a name that
// does not exist is a finding, a server that did not answer is not.
var (
	// ErrNotFound: the name does not exist (NXDOMAIN, RFC 8020).
	ErrNotFound = errors.New("no such domain")
	// ErrNoData: the name exists but has no record of the type asked for.
	ErrNoData = errors.New("no record of that type")
	// ErrTemporary: no usable answer now (SERVFAIL, REFUSED, timeout,
	// network error); the same question may succeed later.
	ErrTemporary = errors.New("temporary DNS failure")
)

// Error is a failed lookup. It wraps one of the class errors above.
type Error struct {
	Name   string // the name asked for
	Type   string // the record type, e.g. "MX"
	Class  error  // ErrNotFound, ErrNoData or ErrTemporary
	Detail string // e.g. "SERVFAIL from 127.0.0.1:53", "i/o timeout"
}

func (e *Error) Error() string {
	s := fmt.Sprintf("dns: lookup %s %s: %v", e.Name, e.Type, e.Class)
	if e.Detail != "" {
		s += " (" + e.Detail + ")"
	}
	return s
}

func (e *Error) Unwrap() error { return e.Class }

// IsNotFound reports whether err says the name does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsNoData reports whether err says the name has no record of the type.
func IsNoData(err error) bool { return errors.Is(err, ErrNoData) }

// IsTemporary reports whether err is a temporary failure. An error that is
// none of the three classes (a bug, a cancelled context) counts as
// temporary: a lookup that did not finish must never pass or fail a check.
func IsTemporary(err error) bool {
	return err != nil && !IsNotFound(err) && !IsNoData(err)
}
