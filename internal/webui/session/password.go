package session

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/argon2"
)

// Argon2id parameters: OWASP's recommended minimum (19 MiB, 2 passes, 1 lane), about
// 30 ms on one core here. They are written into every hash, so raising them later keeps
// old hashes verifiable.
const (
	argonMemory  = 19 * 1024
	argonTime    = 2
	argonThreads = 1
	argonKeyLen  = 32
	argonSaltLen = 16
)

// Password length bounds. The upper bound keeps hashing cost predictable.
const (
	MinPassword = 10
	MaxPassword = 256
)

// CheckPassword says what is wrong with a new password, or returns nil.
func CheckPassword(pw, email string) error {
	n := utf8.RuneCountInString(pw)
	switch {
	case n < MinPassword:
		return fmt.Errorf("must be at least %d characters", MinPassword)
	case len(pw) > MaxPassword:
		return fmt.Errorf("must be at most %d bytes", MaxPassword)
	case email != "" && strings.EqualFold(pw, email):
		return errors.New("must not be your email address")
	}
	return nil
}

var b64 = base64.RawStdEncoding

// HashPassword returns pw's argon2id hash in the PHC string format.
func HashPassword(pw string) string {
	salt := make([]byte, argonSaltLen)
	_, _ = rand.Read(salt)
	key := argon2.IDKey([]byte(pw), salt, argonTime, argonMemory, argonThreads, argonKeyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, argonMemory, argonTime, argonThreads,
		b64.EncodeToString(salt), b64.EncodeToString(key))
}

// dummyHash is verified against when an account does not exist, so that a sign-in takes
// as long for an unknown email as for a wrong password.
var dummyHash = HashPassword("gatehouse-no-such-account")

// VerifyPassword reports whether pw matches hash. An empty or malformed hash never
// matches, but costs the same time as a real one.
func VerifyPassword(hash, pw string) bool {
	ok, err := verify(hash, pw)
	if err != nil {
		_, _ = verify(dummyHash, pw)
		return false
	}
	return ok
}

func verify(hash, pw string) (bool, error) {
	parts := strings.Split(hash, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return false, errors.New("not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return false, errors.New("unsupported argon2 version")
	}
	var mem, t uint32
	var p uint8
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &mem, &t, &p); err != nil {
		return false, errors.New("bad argon2 parameters")
	}
	// Bounds stop a planted hash from making verification arbitrarily expensive.
	if mem == 0 || mem > 1<<20 || t == 0 || t > 16 || p == 0 {
		return false, errors.New("argon2 parameters out of range")
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil || len(salt) < 8 {
		return false, errors.New("bad salt")
	}
	want, err := b64.DecodeString(parts[5])
	if err != nil || len(want) < 16 || len(want) > 64 {
		return false, errors.New("bad key")
	}
	got := argon2.IDKey([]byte(pw), salt, t, mem, p, uint32(len(want)))
	return subtle.ConstantTimeCompare(got, want) == 1, nil
}
