package quotatest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"
	"time"

	"github.com/redis/rueidis"
)

// Tests that use Redis need a server: GATEHOUSE_TEST_REDIS is a URL such as
// redis://127.0.0.1:6379/0. Others share it, so each test works under a random key prefix
// and deletes its keys when it ends.

// RedisURL returns GATEHOUSE_TEST_REDIS, or skips t when it is unset.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("GATEHOUSE_TEST_REDIS")
	if u == "" {
		t.Skip("GATEHOUSE_TEST_REDIS not set: skipping Redis quota tests")
	}
	return u
}

// RedisPrefix returns a fresh key prefix whose keys are deleted when t ends.
func RedisPrefix(t testing.TB, url string) string {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "gatehouse-test:" + hex.EncodeToString(b[:]) + ":"
	c := RedisClient(t, url) // registered first, so closed after the cleanup below
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		keys := rueidis.NewScanner(func(cursor uint64) (rueidis.ScanEntry, error) {
			return c.Do(ctx, c.B().Scan().Cursor(cursor).Match(prefix+"*").Count(1000).Build()).AsScanEntry()
		})
		for k := range keys.Iter() {
			c.Do(ctx, c.B().Del().Key(k).Build())
		}
		if err := keys.Err(); err != nil {
			t.Logf("cleaning up %s*: %v", prefix, err)
		}
	})
	return prefix
}

// RedisClient connects to url; the client closes when t ends.
func RedisClient(t testing.TB, url string) rueidis.Client {
	t.Helper()
	opt, err := rueidis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	opt.DisableCache = true
	c, err := rueidis.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}
