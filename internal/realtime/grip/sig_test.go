package grip

import (
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func TestSignMatchesPushpin(t *testing.T) {
	// origin-requests.jsonl: the Grip-Sig Pushpin 1.36 sent with the default
	// key "changeme" and iss "pushpin", exp 1795481563.
	const want = "eyJ0eXAiOiJKV1QiLCJhbGciOiJIUzI1NiJ9.eyJleHAiOjE3OTU0ODE1NjMsImlzcyI6InB1c2hwaW4ifQ.0uPmOR-SZSGzK1oD9ESGTTE6O5-xggvw2cxZFx6sGdM"
	now := time.Unix(1795481563, 0).Add(-SigTTL)
	if got := Sign([]byte("changeme"), DefaultIssuer, now); got != want {
		t.Errorf("Sign =\n%s\nwant\n%s", got, want)
	}
}

func TestVerify(t *testing.T) {
	key := []byte("s3cret")
	now := time.Unix(1_800_000_000, 0)
	good := Sign(key, "gatehouse", now)
	other, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims{"iss": "gatehouse"}).SignedString(key)
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, jwt.MapClaims{"exp": now.Add(time.Hour).Unix()}).SignedString(jwt.UnsafeAllowNoneSignatureType)
	tests := []struct {
		name   string
		token  string
		key    []byte
		issuer string
		now    time.Time
		ok     bool
	}{
		{"valid", good, key, "gatehouse", now, true},
		{"issuer not checked when empty", good, key, "", now, true},
		{"wrong issuer", good, key, "pushpin", now, false},
		{"wrong key", good, []byte("other"), "", now, false},
		{"expired", good, key, "", now.Add(2 * time.Hour), false},
		{"within leeway", good, key, "", now.Add(SigTTL + 5*time.Second), true},
		{"no exp", other, key, "", now, false},
		{"alg none", none, key, "", now, false},
		{"garbage", "a.b.c", key, "", now, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Verify(tt.token, tt.key, tt.issuer, tt.now, 10*time.Second)
			if (err == nil) != tt.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, ErrBadSig) {
				t.Errorf("error %v does not wrap ErrBadSig", err)
			}
		})
	}
}

func TestParseKey(t *testing.T) {
	if k, err := ParseKey("base64:Y2hhbmdlbWU="); err != nil || string(k) != "changeme" {
		t.Errorf("base64 key = %q, %v", k, err)
	}
	if k, _ := ParseKey("plain"); string(k) != "plain" {
		t.Errorf("plain key = %q", k)
	}
	if _, err := ParseKey("base64:!!"); err == nil {
		t.Error("bad base64 accepted")
	}
	if s := Sign([]byte("k"), `a"b\`+"\x01", time.Unix(0, 0)); Verify(s, []byte("k"), `a"b\`+"\x01", time.Unix(0, 0), 0) != nil {
		t.Error("issuer with quotes does not round-trip")
	}
}
