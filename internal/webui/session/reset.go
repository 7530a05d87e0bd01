package session

import (
	"context"
	"time"

	"github.com/gatehouse-dev/gatehouse"
)

// ResetTTL is how long a password reset link works.
const ResetTTL = time.Hour

// NewReset makes a single-use password reset token for a developer. Only its hash is
// stored; whoever delivers the link (an operator, the SMTP sender, the log) holds the
// token.
func NewReset(ctx context.Context, st Store, email string, now time.Time) (string, error) {
	token, _, id := gatehouse.NewSecret("r_")
	now = now.UTC().Truncate(time.Microsecond)
	err := st.CreateSession(ctx, &Session{ID: id, Kind: KindReset, Subject: email, CreatedAt: now, ExpiresAt: now.Add(ResetTTL)})
	if err != nil {
		return "", err
	}
	return token, nil
}

// PeekReset returns the email a reset token is for, without using it up; ENotFound when
// the token is unknown, used or expired.
func PeekReset(ctx context.Context, st Store, token string) (string, error) {
	id, err := resetID(token)
	if err != nil {
		return "", err
	}
	s, err := st.Session(ctx, id)
	if err != nil {
		return "", err
	}
	if s.Kind != KindReset {
		return "", gatehouse.Errorf(gatehouse.ENotFound, "no such reset link")
	}
	return s.Subject, nil
}

// UseReset uses a reset token up and returns its email; of two concurrent uses, one
// fails. The caller then sets the new password and ends the developer's sessions and
// other reset links.
func UseReset(ctx context.Context, st Store, token string) (string, error) {
	id, err := resetID(token)
	if err != nil {
		return "", err
	}
	s, err := st.TakeSession(ctx, id)
	if err != nil {
		return "", err
	}
	if s.Kind != KindReset {
		// Not a reset link (a session cookie's value, say): it was taken by mistake, so
		// put it back as it was.
		_ = st.CreateSession(ctx, s)
		return "", gatehouse.Errorf(gatehouse.ENotFound, "no such reset link")
	}
	return s.Subject, nil
}

// resetID is the stored id of a reset token; an empty or oversized one is no link.
func resetID(token string) (string, error) {
	if token == "" || len(token) > 128 {
		return "", gatehouse.Errorf(gatehouse.ENotFound, "no such reset link")
	}
	return gatehouse.HashSecret(token), nil
}
