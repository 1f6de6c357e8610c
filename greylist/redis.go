package greylist

import (
	"context"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/mailsift/mailsift/internal/redisconn"
)

// checkScript is the check-and-record, atomic in Redis: the same policy as
// decide and the memory store. Times are the caller's clock, in seconds;
// each key also carries a Redis TTL so that Redis forgets what mailsift
// would.
var checkScript = redis.NewScript(`
local now, delay, window, maxage, awl = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local c = redis.call('HMGET', KEYS[1], 'n', 'l', 'e')
local passes, last, cexp = tonumber(c[1]) or 0, tonumber(c[2]) or 0, tonumber(c[3]) or 0
if cexp <= now then passes, last, cexp = 0, 0, 0 end
if awl > 0 and passes >= awl then
  redis.call('HSET', KEYS[1], 'e', now + maxage)
  redis.call('EXPIRE', KEYS[1], maxage)
  return {3, 0, passes}
end
local t = redis.call('HMGET', KEYS[2], 'f', 'p', 'e')
local first, passed, texp = tonumber(t[1]), t[2] == '1', tonumber(t[3]) or 0
local verdict
if first ~= nil and texp > now then
  if passed then
    verdict = 2
  elseif now - first >= delay then
    verdict = 1
  else
    return {0, delay - (now - first), passes}
  end
else
  redis.call('HSET', KEYS[2], 'f', now, 'p', 0, 'e', now + window)
  redis.call('EXPIRE', KEYS[2], window)
  return {0, delay, passes}
end
redis.call('HSET', KEYS[2], 'p', 1, 'e', now + maxage)
redis.call('EXPIRE', KEYS[2], maxage)
if cexp == 0 or now - last >= 3600 then
  passes, last = passes + 1, now
end
redis.call('HSET', KEYS[1], 'n', passes, 'l', last, 'e', now + maxage)
redis.call('EXPIRE', KEYS[1], maxage)
return {verdict, 0, passes}
`)

// RedisConfig is where the store's Redis is (a single server or Sentinel).
type RedisConfig = redisconn.Config

// Redis is a store several MX hosts share.
type Redis struct {
	c      redis.UniversalClient
	prefix string
	log    *zap.Logger

	mu      sync.Mutex
	down    bool
	outages atomic.Int64
}

// NewRedis returns a Redis store. It does not connect until used, so that
// mailsift starts while Redis is down.
func NewRedis(cfg RedisConfig, log *zap.Logger) *Redis {
	return &Redis{c: cfg.Client(), prefix: cfg.Prefix, log: log}
}

// Outages returns how many times the store became unreachable.
func (r *Redis) Outages() int64 { return r.outages.Load() }

// Ping reports whether Redis answers.
func (r *Redis) Ping(ctx context.Context) error { return r.c.Ping(ctx).Err() }

// Check implements Store.
func (r *Redis) Check(ctx context.Context, client, triplet Key, now time.Time, t Timing) (Result, error) {
	keys := []string{r.prefix + "c:" + hex.EncodeToString(client[:]), r.prefix + "t:" + hex.EncodeToString(triplet[:])}
	secs := func(d time.Duration) int64 { return max(int64(d/time.Second), 1) }
	v, err := checkScript.Run(ctx, r.c, keys, now.Unix(), int64(t.Delay/time.Second), secs(t.RetryWindow), secs(t.MaxAge), t.AWLCount).Int64Slice()
	if err == nil && len(v) != 3 {
		err = fmt.Errorf("unexpected answer %v", v)
	}
	r.health(err)
	if err != nil {
		return Result{}, fmt.Errorf("greylist: redis: %w", err)
	}
	return Result{Verdict: Verdict(v[0]), RetryIn: time.Duration(v[1]) * time.Second, Passes: int(v[2])}, nil
}

// health logs an outage once, when it starts, and once when it ends.
func (r *Redis) health(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && !r.down:
		r.down = true
		r.outages.Add(1)
		r.log.Warn("greylist store unreachable", zap.String("mailsift.greylist.store", "redis"), zap.Error(err))
	case err == nil && r.down:
		r.down = false
		r.log.Info("greylist store reachable again", zap.String("mailsift.greylist.store", "redis"))
	}
}

// Close implements Store.
func (r *Redis) Close() error { return r.c.Close() }
