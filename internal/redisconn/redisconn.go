// Package redisconn opens the Redis connections of mailsift's shared
// stores (greylist, daily counts, suppression list, DMARC reports, the
// callout cache): they all use the [greylist.redis] server, with the same
// settings and the same fail-fast timeouts.
package redisconn

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"time"

	"github.com/redis/go-redis/v9"
)

// Config is where a store's Redis is and how long to wait for it.
type Config struct {
	Addrs      []string // one server, Sentinel addresses, or Cluster nodes
	MasterName string   // Sentinel's master name; "" otherwise
	Username   string
	Password   string
	DB         int
	Prefix     string        // the store's key prefix, e.g. "mailsift:greylist:"
	Timeout    time.Duration // dial, read and write; 0 is one second
}

// Client returns a client for c. It does not connect until used, so that
// mailsift starts while Redis is down; one retry at most, so that an outage
// costs a message one timeout, not many.
func (c Config) Client() redis.UniversalClient {
	t := c.Timeout
	if t <= 0 {
		t = time.Second
	}
	return redis.NewUniversalClient(&redis.UniversalOptions{
		Addrs: c.Addrs, MasterName: c.MasterName, Username: c.Username, Password: c.Password, DB: c.DB,
		DialTimeout: t, ReadTimeout: t, WriteTimeout: t, MaxRetries: 1,
	})
}

// Conn is what every Redis store holds: its client and its key prefix.
// A store embeds it, and so has Close and Ping.
type Conn struct {
	c      redis.UniversalClient
	prefix string
}

// NewConn returns c's client with c's prefix; it connects on first use.
func NewConn(c Config) Conn { return Conn{c: c.Client(), prefix: c.Prefix} }

// Client returns the client.
func (c Conn) Client() redis.UniversalClient { return c.c }

// Key returns the key name under the store's prefix.
func (c Conn) Key(name string) string { return c.prefix + name }

// Close closes the connections.
func (c Conn) Close() error { return c.c.Close() }

// Ping reports whether Redis answers.
func (c Conn) Ping(ctx context.Context) error { return c.c.Ping(ctx).Err() }

// Nonce returns 16 random hex digits: a sorted-set member made unique
// with it is counted once per event, even two at the same millisecond.
func Nonce() string {
	var b [8]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
