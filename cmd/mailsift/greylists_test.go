package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/mailsift/mailsift/checks"
	"github.com/mailsift/mailsift/greylist"
	"github.com/mailsift/mailsift/greylist/redistest"
	"github.com/mailsift/mailsift/internal/config"
	"github.com/mailsift/mailsift/internal/metrics"
	"github.com/mailsift/mailsift/internal/settings"
)

// [greylist.redis] password_file: the password is read from the file, and
// a Redis that requires it answers.
func TestRedisPasswordFile(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret pass")
	secret := filepath.Join(t.TempDir(), "redis.password")
	os.WriteFile(secret, []byte("s3cret pass\n"), 0o600)
	check := func(r checks.RedisConfig) error {
		cfg := settings.Default()
		cfg.Greylist.Store, cfg.Greylist.Redis = "redis", r
		h := &greylistHolder{log: zap.NewNop()}
		defer h.close()
		_, err := h.get(cfg, metrics.New("test")).Check(context.Background(), greylist.ClientKey("c"), greylist.TripletKey("c", "s", "r"), time.Now(),
			greylist.Timing{Delay: time.Minute, RetryWindow: time.Hour, MaxAge: time.Hour})
		return err
	}
	base := checks.RedisConfig{Addrs: []string{srv.Addr}, Prefix: "pw:", Timeout: config.Duration(time.Second)}
	withFile := base
	withFile.PasswordFile = secret
	if err := check(withFile); err != nil {
		t.Fatalf("with password_file: %v", err)
	}
	if err := check(base); err == nil || !strings.Contains(err.Error(), "NOAUTH") {
		t.Fatalf("without a password: %v, want NOAUTH", err)
	}
}
