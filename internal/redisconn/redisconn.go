// Package redisconn opens the Redis connections of mailsift's shared
// stores (greylist, daily counts, suppression list, DMARC reports, the
// callout cache): they all use the [greylist.redis] server, with the same
// settings and the same fail-fast timeouts.
package redisconn

import (
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
