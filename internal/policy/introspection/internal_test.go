package introspection

import (
	"strings"
	"testing"
	"time"

	"github.com/gatehouse-dev/gatehouse/internal/policy"
	"github.com/gatehouse-dev/gatehouse/internal/policy/policytest"
)

// FuzzParse feeds arbitrary endpoint answers to the parser: it never panics, accepts only
// answers with "active": true, and never keeps an answer past the token's exp.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`{"active":true,"client_id":"shop","scope":"a b","exp":1800000030,"aud":["api"],"iss":"https://idp"}`,
		`{"active":false}`,
		`{"active":"true"}`,
		`{"active":true,"scope":["a",1,""],"exp":-1e300}`,
		`{"active":true,"aud":"api","iss":["https://idp"],"exp":1e300}`,
		`[]`, `null`, `{`,
	} {
		f.Add([]byte(s))
	}
	a, err := New(&policy.Env{Directory: policytest.NewDirectory()},
		&Config{URL: "https://idp.example/i", Audience: []string{"api"}, Issuer: []string{"https://idp"}}, "i")
	if err != nil {
		f.Fatal(err)
	}
	au := a.(*auth)
	now := time.Unix(1_800_000_000, 0)
	f.Fuzz(func(t *testing.T, b []byte) {
		ans, err := au.parse(b, now)
		if err != nil {
			return
		}
		if ans.reject == nil {
			if !strings.Contains(string(b), "true") {
				t.Fatalf("accepted %s", b)
			}
			if exp, ok := ans.claims["exp"].(float64); ok && exp > -1e18 && exp < 1e18 && ans.until > time.Unix(int64(exp), 0).UnixNano() {
				t.Fatalf("cached past exp: %s", b)
			}
			if ans.until > now.Add(au.ttl).UnixNano() {
				t.Fatalf("cached past cache_ttl: %s", b)
			}
		}
	})
}

func TestHashTokenLongAndShort(t *testing.T) {
	short, long := "abc", strings.Repeat("x", 5000)
	if hashToken(short) == hashToken(short+"d") || hashToken(long) == hashToken(long+"y") {
		t.Fatal("hash collision")
	}
	if hashToken(long) != hashToken(strings.Clone(long)) {
		t.Fatal("hash not deterministic")
	}
}
