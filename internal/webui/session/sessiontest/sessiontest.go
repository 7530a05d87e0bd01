// Package sessiontest is the conformance suite every session.Store passes.
package sessiontest

import (
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/webui/session"
)

// RunStore runs the suite; open returns an empty store.
func RunStore(t *testing.T, open func(t *testing.T) session.Store) {
	t.Run("sessions", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), t.Context()
		now := time.Now().UTC().Truncate(time.Microsecond)
		mk := func(id, kind, subject string, ttl time.Duration) *session.Session {
			return &session.Session{ID: id, Kind: kind, Subject: subject, Role: "viewer", CSRF: "c-" + id,
				CreatedAt: now, ExpiresAt: now.Add(ttl)}
		}
		for _, x := range []*session.Session{
			mk("a", session.KindDeveloper, "ann@example.com", time.Hour),
			mk("b", session.KindDeveloper, "ann@example.com", time.Hour),
			mk("c", session.KindAdmin, "ann@example.com", time.Hour),
			mk("old", session.KindDeveloper, "bob@example.com", -time.Minute),
		} {
			if err := s.CreateSession(ctx, x); err != nil {
				t.Fatalf("create %s: %v", x.ID, err)
			}
		}
		if err := s.CreateSession(ctx, mk("a", session.KindDeveloper, "x", time.Hour)); gatehouse.ErrorCode(err) != gatehouse.EConflict {
			t.Errorf("duplicate id: got %v, want conflict", err)
		}
		got, err := s.Session(ctx, "a")
		if err != nil {
			t.Fatal(err)
		}
		want := mk("a", session.KindDeveloper, "ann@example.com", time.Hour)
		if got.ID != want.ID || got.Kind != want.Kind || got.Subject != want.Subject || got.Role != want.Role ||
			got.CSRF != want.CSRF || !got.CreatedAt.Equal(want.CreatedAt) || !got.ExpiresAt.Equal(want.ExpiresAt) {
			t.Errorf("session = %+v, want %+v", got, want)
		}
		if _, err := s.Session(ctx, "old"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("expired session: got %v, want not_found", err)
		}
		if _, err := s.Session(ctx, "nope"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("missing session: got %v, want not_found", err)
		}
		list, err := s.Sessions(ctx, session.KindDeveloper, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Subject != "ann@example.com" {
			t.Errorf("developer sessions = %+v, want a and b (not the expired one)", list)
		}
		if list, _ := s.Sessions(ctx, session.KindDeveloper, 1); len(list) != 1 {
			t.Errorf("limit 1: %d sessions", len(list))
		}
		n, err := s.PruneSessions(ctx, now)
		if err != nil || n != 1 {
			t.Errorf("prune = %d, %v; want 1", n, err)
		}
		if err := s.DeleteSessions(ctx, session.KindDeveloper, "ann@example.com"); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"a", "b"} {
			if _, err := s.Session(ctx, id); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
				t.Errorf("session %s after sign-out everywhere: %v", id, err)
			}
		}
		if _, err := s.Session(ctx, "c"); err != nil {
			t.Errorf("the admin session of the same subject must survive: %v", err)
		}
		took, err := s.TakeSession(ctx, "c")
		if err != nil || took.Subject != "ann@example.com" || took.Kind != session.KindAdmin {
			t.Fatalf("take = %+v, %v", took, err)
		}
		if _, err := s.TakeSession(ctx, "c"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("taking twice: %v", err)
		}
		if err := s.CreateSession(ctx, took); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteSession(ctx, "c"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Session(ctx, "c"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("deleted session: %v", err)
		}
		if err := s.DeleteSession(ctx, "c"); err != nil {
			t.Errorf("deleting twice: %v", err)
		}
	})
	t.Run("accounts", func(t *testing.T) {
		t.Parallel()
		s, ctx := open(t), t.Context()
		if _, err := s.Account(ctx, session.KindAdmin, "root"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("missing account: %v", err)
		}
		a := &session.Account{Kind: session.KindAdmin, Subject: "root", Role: "admin", PasswordHash: "h1"}
		if err := s.PutAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
		if a.CreatedAt.IsZero() || a.UpdatedAt.IsZero() {
			t.Errorf("times not filled: %+v", a)
		}
		created := a.CreatedAt
		if err := s.PutAccount(ctx, &session.Account{Kind: session.KindAdmin, Subject: "root", Role: "editor", PasswordHash: "h2"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutAccount(ctx, &session.Account{Kind: session.KindDeveloper, Subject: "root", PasswordHash: "h3"}); err != nil {
			t.Fatal(err)
		}
		if err := s.PutAccount(ctx, &session.Account{Kind: session.KindAdmin, Subject: "ann", Role: "viewer", PasswordHash: "h4"}); err != nil {
			t.Fatal(err)
		}
		got, err := s.Account(ctx, session.KindAdmin, "root")
		if err != nil {
			t.Fatal(err)
		}
		if got.Role != "editor" || got.PasswordHash != "h2" || !got.CreatedAt.Equal(created) {
			t.Errorf("replaced account = %+v (created %v)", got, created)
		}
		list, err := s.Accounts(ctx, session.KindAdmin)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].Subject != "ann" || list[1].Subject != "root" {
			t.Errorf("accounts = %+v, want ann, root", list)
		}
		if err := s.DeleteAccount(ctx, session.KindAdmin, "root"); err != nil {
			t.Fatal(err)
		}
		if err := s.DeleteAccount(ctx, session.KindAdmin, "root"); gatehouse.ErrorCode(err) != gatehouse.ENotFound {
			t.Errorf("deleting twice: %v", err)
		}
		if _, err := s.Account(ctx, session.KindDeveloper, "root"); err != nil {
			t.Errorf("the developer account of the same subject must survive: %v", err)
		}
	})
}
