package store_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/store"
)

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn            string
		engine, target string // engine "" means an error
	}{
		{"sqlite:gatehouse.db", store.EngineSQLite, "gatehouse.db"},
		{"sqlite:./data/gatehouse.db", store.EngineSQLite, "./data/gatehouse.db"},
		{"sqlite:/var/lib/gatehouse/g.db", store.EngineSQLite, "/var/lib/gatehouse/g.db"},
		{"sqlite:C:/data/g.db", store.EngineSQLite, "C:/data/g.db"},
		{"postgres://u:pw@db:5432/gh?sslmode=disable", store.EnginePostgres, "postgres://u:pw@db:5432/gh?sslmode=disable"},
		{"postgresql://db/gh?search_path=gatehouse", store.EnginePostgres, "postgresql://db/gh?search_path=gatehouse"},
		{"sqlite:", "", ""},
		{"sqlite://data/g.db", "", ""},
		{"sqlite:///data/g.db", "", ""},
		{"SQLITE:g.db", "", ""},
		{"postgres:db", "", ""},
		{"mysql://u:pw@db/gh", "", ""},
		{"gatehouse.db", "", ""},
		{"", "", ""},
	}
	for _, tc := range tests {
		engine, target, err := store.ParseDSN(tc.dsn)
		if tc.engine == "" {
			if err == nil {
				t.Errorf("ParseDSN(%q) = %q, %q; want an error", tc.dsn, engine, target)
			} else if strings.Contains(err.Error(), "pw@") {
				t.Errorf("ParseDSN(%q) error repeats the DSN: %v", tc.dsn, err)
			}
			continue
		}
		if err != nil || engine != tc.engine || target != tc.target {
			t.Errorf("ParseDSN(%q) = %q, %q, %v; want %q, %q", tc.dsn, engine, target, err, tc.engine, tc.target)
		}
	}
}

// FuzzParseDSN checks that ParseDSN never panics, that what it accepts it hands on
// faithfully, and that its errors never depend on (so never leak) the DSN.
func FuzzParseDSN(f *testing.F) {
	for _, s := range []string{"sqlite:g.db", "sqlite://x", "sqlite:", "postgres://u:pw@h/db", "postgresql://h", "postgres:x", "x", ""} {
		f.Add(s)
	}
	messages := map[string]bool{}
	for _, s := range []string{"sqlite:", "sqlite://x", "x"} {
		_, _, err := store.ParseDSN(s)
		messages[err.Error()] = true
	}
	f.Fuzz(func(t *testing.T, dsn string) {
		engine, target, err := store.ParseDSN(dsn)
		switch {
		case err != nil:
			if !messages[err.Error()] {
				t.Fatalf("ParseDSN(%q): unexpected message %q", dsn, err)
			}
		case engine == store.EngineSQLite:
			if target == "" || "sqlite:"+target != dsn || strings.HasPrefix(target, "//") {
				t.Fatalf("ParseDSN(%q) = sqlite %q", dsn, target)
			}
		case engine == store.EnginePostgres:
			if target != dsn || !(strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")) {
				t.Fatalf("ParseDSN(%q) = postgres %q", dsn, target)
			}
		default:
			t.Fatalf("ParseDSN(%q) = unknown engine %q", dsn, engine)
		}
	})
}

func TestOpen(t *testing.T) {
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "g.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.CreateAPI(ctx, &gatehouse.API{Name: "a"}); err != nil {
		t.Fatal(err)
	}

	s, err = store.Open(ctx, "redis://localhost", nil)
	if err == nil || s != nil {
		t.Errorf("Open of an unsupported DSN = %v, %v; want a nil store and an error", s, err)
	}
	s, err = store.Open(ctx, "postgres://127.0.0.1:1/x?sslmode=disable&connect_timeout=5", nil)
	if s != nil || gatehouse.ErrorCode(err) != gatehouse.EUnavailable {
		t.Errorf("Open of an unreachable server = %v, %v; want a nil store and EUnavailable", s, err)
	}
}
