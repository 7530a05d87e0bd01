package postgres

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// These tests need a server: GATEHOUSE_TEST_POSTGRES is a DSN such as
// postgres://postgres@127.0.0.1:5432/test?sslmode=disable. Each test works in a schema of
// its own, created for it and dropped after it, so tests run in parallel and leave nothing.

func baseDSN(t *testing.T) string {
	t.Helper()
	dsn := os.Getenv("GATEHOUSE_TEST_POSTGRES")
	if dsn == "" {
		t.Skip("GATEHOUSE_TEST_POSTGRES not set: skipping PostgreSQL conformance")
	}
	return dsn
}

// adminDB connects to the test database outside any test schema.
func adminDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return stdlib.OpenDB(*cfg)
}

// freshSchema creates an empty schema with a random name, dropped when the test ends.
func freshSchema(t *testing.T) string {
	t.Helper()
	dsn := baseDSN(t)
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "gh_test_" + hex.EncodeToString(b[:])
	db := adminDB(t, dsn)
	if _, err := db.ExecContext(t.Context(), "CREATE SCHEMA "+schema); err != nil {
		db.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { // runs after the stores' cleanups, registered later
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Errorf("dropping test schema %s: %v", schema, err)
		}
	})
	return schema
}

// withSearchPath returns dsn set to use schema.
func withSearchPath(t *testing.T, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " search_path=" + schema // key=value form
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func openStore(t *testing.T, dsn string) *Store {
	t.Helper()
	s, err := Open(t.Context(), dsn, storetest.Logger(t))
	return storetest.Opened(t, s, err)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	storetest.Run(t, func(t *testing.T) gatehouse.Store {
		return openStore(t, withSearchPath(t, base, freshSchema(t)))
	})
}

func recv(t *testing.T, ch <-chan gatehouse.Change) gatehouse.Change {
	t.Helper()
	select {
	case c, ok := <-ch:
		if !ok {
			t.Fatal("change channel closed")
		}
		return c
	case <-time.After(10 * time.Second):
		t.Fatal("no change within 10s")
	}
	return gatehouse.Change{}
}

// TestNodes opens several stores on one schema at once (they race to migrate) and checks
// that a write on any node reaches every node, exactly once.
func TestNodes(t *testing.T) {
	t.Parallel()
	dsn := withSearchPath(t, baseDSN(t), freshSchema(t))
	const n = 3
	nodes := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { nodes[i], errs[i] = Open(t.Context(), dsn, storetest.Logger(t)) })
	}
	wg.Wait()
	for i, s := range nodes {
		if errs[i] != nil {
			t.Fatalf("node %d: %v", i, errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	subs := make([]<-chan gatehouse.Change, n)
	for i, s := range nodes {
		subs[i] = s.Subscribe(t.Context())
	}

	a, err := nodes[0].CreateAPI(t.Context(), &gatehouse.API{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	d, err := nodes[1].CreateDeveloper(t.Context(), &gatehouse.Developer{Email: "d@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	want := []gatehouse.Change{
		{Kind: gatehouse.KindAPI, Name: "a", Action: gatehouse.ActionCreate, Revision: a.Revision},
		{Kind: gatehouse.KindDeveloper, Name: "d@example.com", Action: gatehouse.ActionCreate, Revision: d.Revision},
	}
	for i, ch := range subs {
		for _, w := range want {
			if got := recv(t, ch); got != w {
				t.Errorf("node %d got %+v, want %+v", i, got, w)
			}
		}
		select {
		case c := <-ch:
			t.Errorf("node %d got an extra change %+v", i, c)
		case <-time.After(200 * time.Millisecond):
		}
	}
	got, err := nodes[2].API(t.Context(), "a")
	if err != nil || got.Revision != a.Revision {
		t.Errorf("node 2 reads %+v, %v", got, err)
	}

	// Writers on every node at once: the meta row serialises them, so revisions are
	// unique and gapless.
	const perNode = 5
	revs := make(chan int64, n*perNode)
	for i, s := range nodes {
		for j := range perNode {
			wg.Go(func() {
				a, err := s.CreateAPI(t.Context(), &gatehouse.API{Name: fmt.Sprintf("n%d-%d", i, j)})
				if err != nil {
					t.Errorf("node %d: %v", i, err)
					return
				}
				revs <- a.Revision
			})
		}
	}
	wg.Wait()
	close(revs)
	seen := map[int64]bool{}
	for r := range revs {
		seen[r] = true
	}
	for r := d.Revision + 1; r <= d.Revision+n*perNode; r++ {
		if !seen[r] {
			t.Errorf("no write got revision %d (got %v)", r, seen)
		}
	}

	var versions int
	db := adminDB(t, dsn)
	defer db.Close()
	files, _ := fs.Glob(migrations, "migrations/*.sql")
	if err := db.QueryRowContext(t.Context(), "SELECT count(*) FROM schema_migrations").Scan(&versions); err != nil || versions != len(files) {
		t.Errorf("schema_migrations rows = %d, %v; want %d", versions, err, len(files))
	}
}

// TestListenerReconnects kills the LISTEN connection: subscribers get a Resync once it is
// back, and changes flow again.
func TestListenerReconnects(t *testing.T) {
	t.Parallel()
	dsn := withSearchPath(t, baseDSN(t), freshSchema(t))
	s := openStore(t, dsn)
	ch := s.Subscribe(t.Context())
	pid := s.lis.pid.Load()

	db := adminDB(t, dsn)
	defer db.Close()
	var killed bool
	if err := db.QueryRowContext(t.Context(), "SELECT pg_terminate_backend($1)", int64(pid)).Scan(&killed); err != nil || !killed {
		t.Fatalf("terminating listener backend %d: %v, %v", pid, killed, err)
	}
	if c := recv(t, ch); !c.Resync {
		t.Fatalf("after losing the listener, got %+v, want a resync", c)
	}
	if s.lis.pid.Load() == pid {
		t.Error("listener did not reconnect on a new backend")
	}
	a, err := s.CreateAPI(t.Context(), &gatehouse.API{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ch); c.Name != "a" || c.Revision != a.Revision {
		t.Errorf("after reconnecting, got %+v", c)
	}
}

// TestSchemasAreIsolated checks that installations in two schemas of one database neither
// see each other's data nor hear each other's changes.
func TestSchemasAreIsolated(t *testing.T) {
	t.Parallel()
	base := baseDSN(t)
	one := openStore(t, withSearchPath(t, base, freshSchema(t)))
	// The other names its schema through pgx's options parameter instead.
	two := openStore(t, withSearchPathOption(t, base, freshSchema(t)))
	ch := two.Subscribe(t.Context())
	if _, err := one.CreateAPI(t.Context(), &gatehouse.API{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	_, err := two.API(t.Context(), "a")
	if gatehouse.ErrorCode(err) != gatehouse.ENotFound {
		t.Errorf("other schema reads api: %v", err)
	}
	b, err := two.CreateAPI(t.Context(), &gatehouse.API{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	if c := recv(t, ch); c.Name != "b" || c.Revision != b.Revision || b.Revision != 1 {
		t.Errorf("got %+v for api %+v: want only this schema's change, at revision 1", c, b)
	}
}

func withSearchPathOption(t *testing.T, dsn, schema string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return dsn + " options=-csearch_path=" + schema
	}
	q := u.Query()
	q.Set("options", "-csearch_path="+schema)
	u.RawQuery = q.Encode()
	return u.String()
}

func TestOpenMissingSchema(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), withSearchPath(t, baseDSN(t), "gh_test_does_not_exist"), storetest.Logger(t))
	if err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("Open with a missing schema: %v", err)
	}
}

// TestOpenUnreachable needs no server: nothing listens on port 1.
func TestOpenUnreachable(t *testing.T) {
	t.Parallel()
	_, err := Open(t.Context(), "postgres://gatehouse:secret-pw@127.0.0.1:1/x?sslmode=disable&connect_timeout=5", nil)
	if gatehouse.ErrorCode(err) != gatehouse.EUnavailable {
		t.Fatalf("Open of an unreachable server: %v (code %q), want %q", err, gatehouse.ErrorCode(err), gatehouse.EUnavailable)
	}
	if strings.Contains(err.Error(), "secret-pw") {
		t.Errorf("error leaks the password: %v", err)
	}
	for _, dsn := range []string{"postgres://[bad", "postgres://u:secret-pw@h:notaport/x", "postgres://u:secret-pw@h/x?sslmode=bogus"} {
		_, err = Open(t.Context(), dsn, nil)
		if err == nil {
			t.Errorf("Open(%q) succeeded", dsn)
		} else if strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("Open of a malformed DSN leaks the password: %v", err)
		}
	}
}

// TestCloseLeaksNothing checks that Close stops every goroutine Open started (the
// listener's included). Not parallel: it counts the process's goroutines.
func TestCloseLeaksNothing(t *testing.T) {
	dsn := withSearchPath(t, baseDSN(t), freshSchema(t))
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := Open(t.Context(), dsn, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Subscribe(t.Context())
		if _, err := s.CreateAPI(t.Context(), &gatehouse.API{Name: "a"}); err != nil {
			t.Fatal(err)
		}
		recv(t, ch)
		if err := s.DeleteAPI(t.Context(), "a", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	waitGoroutines(t, before)
}

func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > want {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), want, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
