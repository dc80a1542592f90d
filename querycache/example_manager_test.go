package querycache_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/pgxperf/pgxperf/querycache"
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

	m, err := querycache.NewManager(querycache.Config{
		Client:  client,
		Prefix:  "app:",
		OnError: func(ctx context.Context, op string, err error) { log.Printf("cache %s: %v", op, err) },
	})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()

	// The loader runs only on a miss; concurrent callers share one load, and
	// if Redis is down the loader answers every call.
	repo, err := querycache.GetOrLoad(ctx, m, "gh:repo:pgxperf/pgxperf", querycache.TTLGitHubAPI,
		func(ctx context.Context) (GitHubRepo, error) { return fetchGitHubRepo(ctx, "pgxperf/pgxperf") })
	if err != nil {
		log.Fatal(err) // fetchGitHubRepo's error: Redis errors never get here
	}
	fmt.Println(repo.FullName, repo.Stars)

	// After a write at the source, drop what may be stale.
	if _, err := m.InvalidatePattern(ctx, "gh:repo:*"); err != nil {
		log.Print(err) // the entries expire by their TTL anyway
	}
	for _, s := range m.Stats() {
		fmt.Printf("%s: %d hits, %d misses, %d Redis errors\n", s.Prefix, s.Hits, s.Misses, s.RedisErrors)
	}
}

// This example needs a Redis server, so it is compiled but not run.
func ExampleGetMany() {
	ctx := context.Background()
	client := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379", ContextTimeoutEnabled: true})
	defer client.Close()
	m, err := querycache.NewManager(querycache.Config{Client: client, Prefix: "app:"})
	if err != nil {
		log.Fatal(err)
	}

	// One MGET for all keys, one loader call for the missing ones, one
	// pipeline to cache what it returned.
	quotas, err := querycache.GetMany(ctx, m, []string{"quota:alice", "quota:bob"}, querycache.TTLUserQuota,
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

func ExampleNamedTTL() {
	for _, name := range []string{"SESSION", "GITHUB_API", "GENERATED_CONTENT", "PLATFORM_METADATA", "USER_QUOTA", "QUERY_RESULTS"} {
		ttl, _ := querycache.NamedTTL(name)
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
