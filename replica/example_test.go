package replica_test

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/pgxperf/pgxperf/replica"
)

// A Router over pools of the application's own watches the replicas'
// health and lag.
func ExampleNew() {
	ctx := context.Background()
	primary, _ := pgxpool.New(ctx, "postgres://app@db-primary/app")
	defer primary.Close()
	eu1, _ := pgxpool.New(ctx, "postgres://app@db-replica-1/app")
	defer eu1.Close()

	r, err := replica.New(ctx, replica.Config{
		Primary:  primary,
		Replicas: []replica.Replica{{Name: "eu-1", Pool: eu1}},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close() // stops the monitor; the pools stay open
	for _, n := range r.Nodes() {
		fmt.Printf("%s: %s, %d bytes behind\n", n.Name, n.State, n.LagBytes)
	}
}

// A Session carries read-your-writes from one request to the next, or
// into a job's payload, as a token.
func ExampleParseToken() {
	sess, err := replica.ParseToken("") // the token of the previous request: "" for none
	if err != nil {
		sess = replica.NewSession() // ErrBadToken: start afresh
	}
	ctx := replica.WithSession(context.Background(), sess)
	// … writes and reads through a pgxperf.Pool with ctx …
	_ = ctx
	fmt.Printf("%q\n", sess.Token())
	// Output: ""
}
