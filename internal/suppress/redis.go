package suppress

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/mailsift/mailsift/internal/redisconn"
)

// RedisConfig is where the store's Redis is; the greylist's
// [greylist.redis] settings are used for it.
type RedisConfig = redisconn.Config

// Redis is a store shared by the hosts of a fleet. Per address: two sorted
// sets of bounce times (hard, soft) trimmed to the window, and a hash with
// the last bounce and, once suppressed, when and after how many bounces;
// a set indexes the suppressed addresses. A single server or Sentinel:
// the keys of one address and the index are used together. The Close of
// its Conn implements Store.
type Redis struct{ redisconn.Conn }

// NewRedis returns a Redis store; it connects on first use.
func NewRedis(cfg RedisConfig) *Redis { return &Redis{redisconn.NewConn(cfg)} }

func (r *Redis) keys(addr string) []string {
	return []string{r.Key("h:" + addr), r.Key("s:" + addr), r.Key("e:" + addr), r.Key("suppressed")}
}

// recordScript adds a bounce. ARGV: now (ms), window (ms), "1" for hard,
// a unique member, hard limit, soft limit, the bounce (JSON), the address.
var recordScript = redis.NewScript(`
if redis.call('HEXISTS', KEYS[3], 'since') == 1 then return 1 end
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - window)
local k = KEYS[2]
if ARGV[3] == '1' then k = KEYS[1] end
redis.call('ZADD', k, now, ARGV[4])
redis.call('PEXPIRE', k, window)
local h, s = redis.call('ZCARD', KEYS[1]), redis.call('ZCARD', KEYS[2])
redis.call('HSET', KEYS[3], 'last', ARGV[7], 'hard', h, 'soft', s)
local hl, sl = tonumber(ARGV[5]), tonumber(ARGV[6])
if (hl > 0 and h >= hl) or (sl > 0 and s > sl) then
  redis.call('HSET', KEYS[3], 'since', ARGV[1], 'bounces', h + s)
  redis.call('PERSIST', KEYS[3])
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('SADD', KEYS[4], ARGV[8])
  return 1
end
redis.call('PEXPIRE', KEYS[3], window)
return 0
`)

// Record implements Store.
func (r *Redis) Record(ctx context.Context, addr string, b Bounce, p Policy) (Entry, error) {
	last, err := json.Marshal(b)
	if err != nil {
		return Entry{}, err
	}
	hard := "0"
	if b.Hard {
		hard = "1"
	}
	err = recordScript.Run(ctx, r.Client(), r.keys(addr), b.At.UnixMilli(), max(p.Window.Milliseconds(), 1), hard,
		fmt.Sprintf("%d:%s", b.At.UnixMilli(), redisconn.Nonce()), p.HardLimit, p.SoftLimit, string(last), addr).Err()
	if err != nil {
		return Entry{}, fmt.Errorf("redis: %w", err)
	}
	e, _, err := r.Lookup(ctx, addr, b.At, p)
	return e, err
}

// Lookup implements Store.
func (r *Redis) Lookup(ctx context.Context, addr string, now time.Time, p Policy) (Entry, bool, error) {
	k := r.keys(addr)
	cut := strconv.FormatInt(now.Add(-p.Window).UnixMilli(), 10)
	pipe := r.Client().Pipeline()
	h := pipe.HGetAll(ctx, k[2])
	hard := pipe.ZCount(ctx, k[0], "("+cut, "+inf")
	soft := pipe.ZCount(ctx, k[1], "("+cut, "+inf")
	if _, err := pipe.Exec(ctx); err != nil {
		return Entry{Address: addr}, false, fmt.Errorf("redis: %w", err)
	}
	e, ok := entryOf(addr, h.Val())
	if !e.Suppressed {
		e.Hard, e.Soft = int(hard.Val()), int(soft.Val())
		ok = e.Hard+e.Soft > 0
	}
	return e, ok, nil
}

// entryOf reads an address's hash.
func entryOf(addr string, h map[string]string) (Entry, bool) {
	e := Entry{Address: addr}
	if len(h) == 0 {
		return e, false
	}
	json.Unmarshal([]byte(h["last"]), &e.Last)
	e.Hard, _ = strconv.Atoi(h["hard"])
	e.Soft, _ = strconv.Atoi(h["soft"])
	if s, ok := h["since"]; ok {
		ms, _ := strconv.ParseInt(s, 10, 64)
		e.Suppressed, e.Since = true, time.UnixMilli(ms).UTC()
		e.Bounces, _ = strconv.Atoi(h["bounces"])
	}
	return e, true
}

// Suppressed implements Store.
func (r *Redis) Suppressed(ctx context.Context) ([]Entry, error) {
	addrs, err := r.Client().SMembers(ctx, r.Key("suppressed")).Result()
	if err != nil {
		return nil, fmt.Errorf("redis: %w", err)
	}
	pipe := r.Client().Pipeline()
	hs := make([]*redis.MapStringStringCmd, len(addrs))
	for i, a := range addrs {
		hs[i] = pipe.HGetAll(ctx, r.keys(a)[2])
	}
	if len(addrs) > 0 {
		if _, err := pipe.Exec(ctx); err != nil {
			return nil, fmt.Errorf("redis: %w", err)
		}
	}
	var out []Entry
	for i, a := range addrs {
		if e, ok := entryOf(a, hs[i].Val()); ok && e.Suppressed {
			out = append(out, e)
		}
	}
	return out, nil
}

// Delete implements Store.
func (r *Redis) Delete(ctx context.Context, addr string) (bool, error) {
	k := r.keys(addr)
	pipe := r.Client().TxPipeline()
	n := pipe.Del(ctx, k[0], k[1], k[2])
	pipe.SRem(ctx, k[3], addr)
	if _, err := pipe.Exec(ctx); err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return n.Val() > 0, nil
}

// sentKey is the set of a sent message's recipients.
func (r *Redis) sentKey(id string) string { return r.Key("sent:" + id) }

// RecordSent implements Sent: one set per Message-ID under the prefix,
// holding its recipients, expiring ttl after the last message recorded
// with that ID.
func (r *Redis) RecordSent(ctx context.Context, id string, rcpts []string, _ time.Time, ttl time.Duration) error {
	id = MessageID(id)
	if id == "" {
		return fmt.Errorf("suppress: record sent message: empty Message-ID")
	}
	members := make([]any, 0, len(rcpts))
	for _, rc := range rcpts {
		if rc = SentRecipient(rc); rc != "" {
			members = append(members, rc)
		}
	}
	if len(members) == 0 {
		return nil
	}
	k := r.sentKey(id)
	pipe := r.Client().TxPipeline()
	pipe.SAdd(ctx, k, members...)
	pipe.PExpire(ctx, k, max(ttl, time.Millisecond))
	if _, err := pipe.Exec(ctx); err != nil {
		return fmt.Errorf("redis: record sent message %s: %w", id, err)
	}
	return nil
}

// WasSent implements Sent; Redis expires the sets itself, so now is not
// used.
func (r *Redis) WasSent(ctx context.Context, id, rcpt string, _ time.Time) (bool, error) {
	id = MessageID(id)
	if id == "" {
		return false, nil
	}
	ok, err := r.Client().SIsMember(ctx, r.sentKey(id), SentRecipient(rcpt)).Result()
	if err != nil {
		return false, fmt.Errorf("redis: sent message %s: %w", id, err)
	}
	return ok, nil
}
