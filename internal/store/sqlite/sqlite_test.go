package sqlite_test

import (
	"database/sql"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store/sqlite"
	"github.com/gatehouse-dev/gatehouse/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(t.Context(), path, storetest.Logger(t))
	return storetest.Opened(t, s, err)
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) gatehouse.Store {
		return open(t, filepath.Join(t.TempDir(), "gatehouse.db"))
	})
}

// TestReopen checks that data persists in the one file and that reapplying migrations is a
// no-op.
func TestReopen(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "missing", "parent", "gatehouse.db") // directories are created
	ctx := t.Context()

	s1, err := sqlite.Open(ctx, path, storetest.Logger(t))
	if err != nil {
		t.Fatal(err)
	}
	a, err := s1.CreateAPI(ctx, &gatehouse.API{Name: "a", Tags: []string{"x"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s1.CreateDeveloper(ctx, &gatehouse.Developer{Email: "d@example.com"}); err != nil {
		t.Fatal(err)
	}
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	for range 2 {
		s := open(t, path)
		rev, err := s.Revision(ctx)
		if err != nil || rev != 2 {
			t.Fatalf("revision after reopen = %d, %v; want 2", rev, err)
		}
		got, err := s.API(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		if !got.UpdatedAt.Equal(a.UpdatedAt) || got.Revision != a.Revision {
			t.Errorf("api after reopen: %+v, want %+v", got, a)
		}
		p, err := s.APIs(ctx, gatehouse.APIFilter{Tag: "x"})
		if err != nil || len(p.Items) != 1 {
			t.Errorf("tag index after reopen: %v, %v", p.Items, err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}

	// Migrations are recorded once each, and the file is in WAL mode.
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	files, err := fs.Glob(os.DirFS("migrations"), "*.sql")
	if err != nil || n != len(files) {
		t.Errorf("schema_migrations has %d rows, want %d (%v)", n, len(files), err)
	}
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}

	// Everything lives in the one file (and SQLite's own WAL sidecars).
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "gatehouse.db") {
			t.Errorf("unexpected file %s beside the database", e.Name())
		}
	}
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	for _, path := range []string{"", filepath.Join(dir, "what?.db"), dir} {
		s, err := sqlite.Open(t.Context(), path, nil)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestCloseLeaksNothing checks that Close stops every goroutine Open started. Not
// parallel: it counts the process's goroutines.
func TestCloseLeaksNothing(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gatehouse.db")
	before := runtime.NumGoroutine()
	for range 3 {
		s, err := sqlite.Open(t.Context(), path, storetest.Logger(t))
		if err != nil {
			t.Fatal(err)
		}
		ch := s.Subscribe(t.Context())
		if _, err := s.CreateAPI(t.Context(), &gatehouse.API{Name: "a"}); err != nil {
			t.Fatal(err)
		}
		<-ch
		if err := s.DeleteAPI(t.Context(), "a", 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}
