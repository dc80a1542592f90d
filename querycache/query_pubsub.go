package querycache

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// The in-process (L1) cache learns of other instances' writes over pub/sub.

func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// subscribe keeps the instance subscribed to the invalidation channel while
// the in-process cache is on. While it is not subscribed (not yet, or the
// connection broke and messages may have been lost), the in-process cache is
// not used, and every reconnection flushes it.
func (c *QueryCache) subscribe() {
	defer c.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-c.stop
		cancel()
	}()
	// The channel is named at once: a Ring or a Cluster picks the server by
	// it (and panics without one). go-redis keeps it, and subscribes again
	// after every reconnection, which arrives here as a *redis.Subscription.
	ps := c.client.Subscribe(ctx, c.channel)
	defer ps.Close()
	backoff := 50 * time.Millisecond
	for ctx.Err() == nil {
		msg, err := ps.ReceiveTimeout(ctx, time.Second)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			var ne interface{ Timeout() bool }
			if errors.As(err, &ne) && ne.Timeout() {
				// Quiet channel: check that the connection still works.
				if perr := ps.Ping(ctx); perr != nil {
					c.reportErr(ctx, "subscribe", perr)
					c.l1Down()
				}
				continue
			}
			c.reportErr(ctx, "subscribe", err)
			c.l1Down()
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" {
				// Messages published while we were away are lost: start over.
				c.epochs.all.Add(1)
				c.l1Live.Store(true)
				backoff = 50 * time.Millisecond
			}
		case *redis.Message:
			c.onMessage(m.Payload)
		}
	}
}

func (c *QueryCache) l1Down() {
	if c.l1Live.Swap(false) {
		c.logger.Warn("pgxperf querycache: invalidation channel lost; in-process cache off until it is back")
	}
	c.epochs.all.Add(1)
}

// onMessage applies another instance's invalidation to the local epochs.
func (c *QueryCache) onMessage(payload string) {
	origin, rest, _ := strings.Cut(payload, "\n")
	if origin == c.origin {
		return
	}
	if r, ok := strings.CutPrefix(rest, "ddl\n"); ok {
		rest = r
		c.forgetCatalog()
	}
	tags := strings.Split(rest, "\n")
	c.epochs.bump(tags, slices.ContainsFunc(tags, func(t string) bool { return strings.HasSuffix(t, "/*") }))
}

// forgetCatalog drops what the catalog and the plans say, after DDL here or
// in another instance.
func (c *QueryCache) forgetCatalog() {
	c.catalog.forget()
	c.plans.clear()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
