package rediscache_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/internal/testenv"
	"github.com/pgxperf/pgxperf/rediscache"
)

// BenchmarkGetOrLoad measures GetOrLoad against the shared test Redis (hit,
// miss) and with the breaker open, next to calling the loader directly.
func BenchmarkGetOrLoad(b *testing.B) {
	ctx := context.Background()
	type value struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	}
	load := func(context.Context) (value, error) { return value{ID: 1, Name: "pgxperf"}, nil }

	b.Run("loader-only", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := load(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})

	newManager := func(b *testing.B, client *redis.Client, cfg rediscache.Config) *rediscache.Cache {
		cfg.Client = client
		cfg.Prefix = "qcbench:" + strconv.FormatInt(time.Now().UnixNano(), 10) + ":"
		m, err := rediscache.New(cfg)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() {
			_ = m.Close()
			_, _ = m.InvalidatePattern(context.Background(), "*")
		})
		return m
	}

	b.Run("hit", func(b *testing.B) {
		client := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(b), ContextTimeoutEnabled: true})
		defer client.Close()
		m := newManager(b, client, rediscache.Config{})
		if _, err := rediscache.GetOrLoad(ctx, m, "b:hit", time.Hour, load); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rediscache.GetOrLoad(ctx, m, "b:hit", time.Hour, load); err != nil {
				b.Fatal(err)
			}
		}
		if s := m.Stats()[0]; s.Misses != 1 {
			b.Fatalf("want hits only, got %+v", s)
		}
	})

	b.Run("miss", func(b *testing.B) {
		client := redis.NewClient(&redis.Options{Addr: testenv.RequireRedis(b), ContextTimeoutEnabled: true})
		defer client.Close()
		m := newManager(b, client, rediscache.Config{})
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			i++
			if _, err := rediscache.GetOrLoad(ctx, m, "b:"+strconv.Itoa(i), time.Minute, load); err != nil {
				b.Fatal(err)
			}
		}
	})

	b.Run("breaker-open", func(b *testing.B) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(b))) // nothing listens
		client := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1})
		defer client.Close()
		m := newManager(b, client, rediscache.Config{BreakerCooldown: time.Hour})
		for range 5 {
			_, _ = rediscache.GetOrLoad(ctx, m, "b:open", time.Hour, load)
		}
		if st := m.BreakerStats().State; st != rediscache.BreakerOpen {
			b.Fatalf("breaker %v, want open", st)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := rediscache.GetOrLoad(ctx, m, "b:open", time.Hour, load); err != nil {
				b.Fatal(err)
			}
		}
	})
}
