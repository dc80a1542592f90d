package rediscache_test

import (
	"context"
	"fmt"
	"log"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/pgxperf/pgxperf/rediscache"
)

type GitHubRepo struct {
	FullName string `json:"full_name"`
	Stars    int    `json:"stargazers_count"`
}

// fetchGitHubRepo stands in for a call to the GitHub API.
func fetchGitHubRepo(_ context.Context, name string) (GitHubRepo, error) {
	return GitHubRepo{FullName: name, Stars: 42}, nil
}

// This example needs a Redis server, so it is compiled but not run.
func ExampleGetOrLoad() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{
		Addr:                  "127.0.0.1:6379",
		ContextTimeoutEnabled: true, // let Config.Timeout bound socket reads
	})
	defer client.Close()

	c, err := rediscache.New(rediscache.Config{
		Client:  client,
		Prefix:  "app:",
		OnError: func(ctx context.Context, op string, err error) { log.Printf("cache %s: %v", op, err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	// The loader runs only on a miss; concurrent callers share one load, and
	// if Redis is down the loader answers every call.
	repo, err := rediscache.GetOrLoad(ctx, c, "gh:repo:pgxperf/pgxperf", TTLGitHubAPI,
		func(ctx context.Context) (GitHubRepo, error) { return fetchGitHubRepo(ctx, "pgxperf/pgxperf") })
	if err != nil {
		log.Fatal(err) // fetchGitHubRepo's error: Redis errors never get here
	}
	fmt.Println(repo.FullName, repo.Stars)

	// After a write at the source, drop what may be stale.
	if _, err := c.InvalidatePattern(ctx, "gh:repo:*"); err != nil {
		log.Print(err) // the entries expire by their TTL anyway
	}
	for _, s := range c.Stats() {
		fmt.Printf("%s: %d hits, %d misses, %d Redis errors\n", s.Prefix, s.Hits, s.Misses, s.RedisErrors)
	}
}

// This example needs a Redis server, so it is compiled but not run.
func ExampleGetMany() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	c, err := rediscache.New(rediscache.Config{Client: client, Prefix: "app:"})
	if err != nil {
		log.Fatal(err)
	}

	// One MGET for all keys, one loader call for the missing ones, one
	// pipeline to cache what it returned.
	quotas, err := rediscache.GetMany(ctx, c, []string{"quota:alice", "quota:bob"}, TTLUserQuota,
		func(ctx context.Context, missing []string) (map[string]int, error) {
			out := make(map[string]int, len(missing))
			for _, k := range missing {
				out[k] = 1000 // e.g. one SELECT ... WHERE user = ANY($1)
			}
			return out, nil
		})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(quotas["quota:alice"])
}

// The TTLs of an application's kinds of values are the application's own:
// name them as constants, and look them up by name for TTLs chosen in
// configuration files. Pass them as the ttl of GetOrLoad, GetMany, Set and
// Warm; the Cache jitters each entry's TTL by ±Config.JitterFraction.
const (
	TTLSession          = 24 * time.Hour   // login sessions
	TTLGitHubAPI        = 15 * time.Minute // external API responses
	TTLGeneratedContent = time.Hour        // rendered or generated output
	TTLPlatformMetadata = 24 * time.Hour   // slow-changing platform data
	TTLUserQuota        = time.Hour        // per-user quotas and counters
	TTLQueryResults     = 5 * time.Minute  // SQL query results
)

var namedTTLs = map[string]time.Duration{
	"SESSION":           TTLSession,
	"GITHUB_API":        TTLGitHubAPI,
	"GENERATED_CONTENT": TTLGeneratedContent,
	"PLATFORM_METADATA": TTLPlatformMetadata,
	"USER_QUOTA":        TTLUserQuota,
	"QUERY_RESULTS":     TTLQueryResults,
}

// NamedTTL returns the TTL for a class name such as "SESSION" or
// "github_api" (case-insensitive), and false for an unknown name.
func NamedTTL(name string) (time.Duration, bool) {
	d, ok := namedTTLs[strings.ToUpper(strings.TrimSpace(name))]
	return d, ok
}

// An application names its own TTLs (see the TTL constants above) and may
// look them up by the names its configuration uses.
func Example_namedTTLs() {
	for _, name := range []string{"SESSION", "GITHUB_API", "GENERATED_CONTENT", "PLATFORM_METADATA", "USER_QUOTA", "QUERY_RESULTS"} {
		ttl, _ := NamedTTL(name)
		fmt.Println(name, ttl)
	}
	// Output:
	// SESSION 24h0m0s
	// GITHUB_API 15m0s
	// GENERATED_CONTENT 1h0m0s
	// PLATFORM_METADATA 24h0m0s
	// USER_QUOTA 1h0m0s
	// QUERY_RESULTS 5m0s
}

func TestNamedTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		want time.Duration
	}{
		{"SESSION", 24 * time.Hour},
		{"github_api", 15 * time.Minute},
		{"GENERATED_CONTENT", time.Hour},
		{"PLATFORM_METADATA", 24 * time.Hour},
		{"USER_QUOTA", time.Hour},
		{" QUERY_RESULTS ", 5 * time.Minute},
	} {
		got, ok := NamedTTL(tc.name)
		require.True(t, ok, tc.name)
		require.Equal(t, tc.want, got, tc.name)
	}
	_, ok := NamedTTL("nope")
	require.False(t, ok)
}
