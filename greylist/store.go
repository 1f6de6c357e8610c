// Package greylist holds mailsift's greylisting: the triplet policy, the
// Store interface with its atomic check-and-record, the memory store (an
// LRU with snapshots) and the Redis store that lets several MX hosts share
// one state.
//
// A triplet is (client key, sender, recipient). Its first attempt is
// answered with a temporary error; a retry after Delay and within
// RetryWindow passes, and a passed triplet is remembered for MaxAge,
// refreshed on each use. A client key that has passed AWLCount times
// (counted at most once an hour, as postgrey does) skips greylisting.
package greylist

import (
	"context"
	"crypto/sha256"
	"time"
)

// Timing is the greylisting policy. It is passed at every call, so that a
// reload changes it without touching the stored state.
type Timing struct {
	Delay       time.Duration // before a retry passes
	RetryWindow time.Duration // a pending triplet without retry expires
	MaxAge      time.Duration // a passed triplet or whitelisted client is kept
	AWLCount    int           // passes that whitelist a client; 0 for none
}

// Verdict is what the store decided.
type Verdict int

// The verdicts.
const (
	Greylisted  Verdict = iota // new, too early, or expired: come back later
	FirstPass                  // the retry after the delay: passes, now remembered
	Known                      // a triplet that passed before
	Whitelisted                // the client key is auto-whitelisted
)

func (v Verdict) String() string {
	return [...]string{"greylisted", "first-pass", "known", "auto-whitelisted"}[v]
}

// Result is the store's answer.
type Result struct {
	Verdict Verdict
	RetryIn time.Duration // for Greylisted: how long until a retry passes
	Passes  int           // the client key's counted passes
}

// Store keeps greylisting state. Check is atomic: two MX hosts asked about
// the same triplet at once record one first attempt.
type Store interface {
	// Check records an attempt of triplet from client at now and returns
	// the verdict.
	Check(ctx context.Context, client, triplet Key, now time.Time, t Timing) (Result, error)
	// Close writes what must be kept and releases the store.
	Close() error
}

// Key is a fixed-size digest of a triplet or a client key: entries stay
// small whatever the addresses, and the stores never hold addresses.
type Key [16]byte

// TripletKey returns the key of (client, sender, rcpt).
func TripletKey(client, sender, rcpt string) Key {
	return digest("t\x00" + client + "\x00" + sender + "\x00" + rcpt)
}

// ClientKey returns the key of a client key for the auto-whitelist.
func ClientKey(client string) Key {
	return digest("c\x00" + client)
}

func digest(s string) Key {
	sum := sha256.Sum256([]byte(s))
	var k Key
	copy(k[:], sum[:16])
	return k
}

// decide is the triplet policy, shared by the stores: given the stored
// state (first attempt, whether it passed) it returns the verdict and the
// new state.
func decide(first time.Time, passed, exists bool, now time.Time, t Timing) (v Verdict, newFirst time.Time, retryIn time.Duration) {
	switch {
	case exists && passed:
		return Known, first, 0
	case exists && now.Sub(first) > t.RetryWindow:
		return Greylisted, now, t.Delay // expired: start again
	case exists && now.Sub(first) >= t.Delay:
		return FirstPass, first, 0
	case exists:
		return Greylisted, first, t.Delay - now.Sub(first)
	}
	return Greylisted, now, t.Delay
}
