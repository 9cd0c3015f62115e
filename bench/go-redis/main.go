// Command go-redis drives Tyk's sliding-log rate limiter pipeline through go-redis v9,
// Tyk's own Redis client, for extsvc-bench's `redis_pipeline` scenario.
//
// Usage: go-redis ADDR. It reads commands on standard input, one per line:
//
//	window CONCURRENCY MILLISECONDS
//
// runs CONCURRENCY goroutines sending the pipeline back to back for that long, and
// answers one JSON line: {"requests":N,"errors":N,"elapsed_ns":N,"p50_ns":N,
// "first_error":"..."}. It exits at the end of its input.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// per is the sliding log's window in seconds (Tyk's per); the same as extsvc-bench's.
const per = 1

// maxErrorsPerWorker stops a worker that only fails.
const maxErrorsPerWorker = 100

type result struct {
	Requests   int    `json:"requests"`
	Errors     int    `json:"errors"`
	ElapsedNs  int64  `json:"elapsed_ns"`
	P50Ns      int64  `json:"p50_ns"`
	FirstError string `json:"first_error,omitempty"`
}

// setCount is Tyk's SlidingLog.SetCount with pipelining on: one pipeline of
// ZREMRANGEBYSCORE, ZCARD, ZADD and EXPIRE on one key.
func setCount(ctx context.Context, client *redis.Client, key string) error {
	now := time.Now()
	onePeriodAgo := now.Add(-per * time.Second)
	var count *redis.IntCmd
	_, err := client.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		pipe.ZRemRangeByScore(ctx, key, "-inf", strconv.FormatInt(onePeriodAgo.UnixNano(), 10))
		count = pipe.ZCard(ctx, key)
		pipe.ZAdd(ctx, key, redis.Z{Score: float64(now.UnixNano()), Member: strconv.FormatInt(now.UnixNano(), 10)})
		pipe.Expire(ctx, key, per*time.Second)
		return nil
	})
	if err != nil {
		return err
	}
	_, err = count.Result()
	return err
}

func window(client *redis.Client, concurrency int, duration time.Duration) result {
	ctx := context.Background()
	start := time.Now()
	end := start.Add(duration)
	latencies := make([][]int64, concurrency)
	errs := make([]int, concurrency)
	firsts := make([]string, concurrency)
	var wg sync.WaitGroup
	for w := 0; w < concurrency; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			key := "bench:ratelimit:" + strconv.Itoa(w)
			mine := make([]int64, 0, 1<<16)
			for errs[w] < maxErrorsPerWorker {
				sent := time.Now()
				if !sent.Before(end) {
					break
				}
				if err := setCount(ctx, client, key); err != nil {
					errs[w]++
					if firsts[w] == "" {
						firsts[w] = err.Error()
					}
					continue
				}
				mine = append(mine, int64(time.Since(sent)))
			}
			latencies[w] = mine
		}(w)
	}
	wg.Wait()
	r := result{ElapsedNs: int64(time.Since(start))}
	var all []int64
	for w := 0; w < concurrency; w++ {
		all = append(all, latencies[w]...)
		r.Errors += errs[w]
		if r.FirstError == "" {
			r.FirstError = firsts[w]
		}
	}
	r.Requests = len(all)
	if len(all) > 0 {
		sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
		r.P50Ns = all[len(all)/2]
	}
	return r
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-redis ADDR (then `window CONCURRENCY MILLISECONDS` lines on stdin)")
		os.Exit(2)
	}
	// A pool larger than any concurrency the bench runs: each goroutine gets its own
	// connection, as in Tyk, whose pool is sized by storage.optimisation_max_active.
	client := redis.NewClient(&redis.Options{Addr: os.Args[1], PoolSize: 500})
	defer client.Close()
	in := bufio.NewScanner(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for in.Scan() {
		var concurrency, millis int
		if _, err := fmt.Sscanf(in.Text(), "window %d %d", &concurrency, &millis); err != nil || concurrency < 1 || millis < 1 {
			fmt.Fprintf(os.Stderr, "go-redis: bad command %q\n", in.Text())
			os.Exit(2)
		}
		if err := out.Encode(window(client, concurrency, time.Duration(millis)*time.Millisecond)); err != nil {
			os.Exit(1)
		}
	}
}
