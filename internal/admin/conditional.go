package admin

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse-dev/gatehouse"
)

// A resource's ETag is its revision in quotes. Revisions are global and only grow, so a
// strong tag is honest: the same tag never names two different representations.
func etag(revision int64) string { return `"` + strconv.FormatInt(revision, 10) + `"` }

// entityTags parses an If-Match or If-None-Match value: "*" or a comma-separated list of
// entity tags (RFC 9110 section 8.8.3). ok is false when the value is malformed.
func entityTags(h string) (tags []string, star bool, ok bool) {
	h = strings.TrimSpace(h)
	if h == "*" {
		return nil, true, true
	}
	for h != "" {
		weak := strings.HasPrefix(h, "W/")
		rest := strings.TrimPrefix(h, "W/")
		if !strings.HasPrefix(rest, `"`) {
			return nil, false, false
		}
		end := strings.IndexByte(rest[1:], '"')
		if end < 0 {
			return nil, false, false
		}
		tag := rest[:end+2]
		if weak {
			tag = "W/" + tag
		}
		tags = append(tags, tag)
		h = strings.TrimLeft(rest[end+2:], " \t")
		if h == "" {
			break
		}
		if h[0] != ',' {
			return nil, false, false
		}
		h = strings.TrimLeft(h[1:], " \t")
	}
	return tags, false, len(tags) > 0
}

// noneMatch reports whether an If-None-Match value names revision. It uses the weak
// comparison RFC 9110 prescribes for If-None-Match; a malformed value matches nothing.
func noneMatch(h string, revision int64) bool {
	if h == "" {
		return false
	}
	tags, star, ok := entityTags(h)
	if !ok {
		return false
	}
	if star {
		return true
	}
	want := etag(revision)
	for _, t := range tags {
		if strings.TrimPrefix(t, "W/") == want {
			return true
		}
	}
	return false
}

// ifMatch returns the revision a write must find, from the request's If-Match: 0 when the
// header is absent or "*" (the store then writes unconditionally, and a missing resource
// is still a 404, as RFC 9110 section 13.2.1 asks). A tag that cannot name any revision
// (weak, not a number, zero) fails the precondition without asking the store. Only one
// tag is accepted, because the store compares against one revision atomically.
func ifMatch(r *http.Request) (int64, error) {
	h := r.Header.Get("If-Match")
	if h == "" {
		return 0, nil
	}
	tags, star, ok := entityTags(h)
	if !ok {
		return 0, malformedIfMatch()
	}
	if star {
		return 0, nil
	}
	if len(tags) != 1 {
		return 0, &gatehouse.Error{Code: gatehouse.EInvalid, Message: "If-Match lists more than one entity tag",
			Fields: []gatehouse.FieldError{{Field: "If-Match", Message: `give exactly one entity tag such as "42", or "*"`}}}
	}
	rev, err := strconv.ParseInt(strings.Trim(tags[0], `"`), 10, 64)
	if err != nil || rev <= 0 || strings.HasPrefix(tags[0], "W/") {
		return 0, gatehouse.Errorf(gatehouse.EPreconditionFailed, "If-Match %s does not match the current revision", tags[0])
	}
	return rev, nil
}

// ifMatchUnversioned checks If-Match for resources without revisions (keys, admin
// tokens): only "*" can match them.
func ifMatchUnversioned(r *http.Request) error {
	h := r.Header.Get("If-Match")
	if h == "" {
		return nil
	}
	_, star, ok := entityTags(h)
	if !ok {
		return malformedIfMatch()
	}
	if !star {
		return gatehouse.Errorf(gatehouse.EPreconditionFailed, "this resource has no revision; only If-Match: * can match it")
	}
	return nil
}

func malformedIfMatch() error {
	return &gatehouse.Error{Code: gatehouse.EInvalid, Message: "malformed If-Match header",
		Fields: []gatehouse.FieldError{{Field: "If-Match",
			Message: `must be "*" or one entity tag such as "42" (with the quotes)`}}}
}

// asError returns the *gatehouse.Error in err's chain.
func asError(err error) (*gatehouse.Error, bool) {
	var e *gatehouse.Error
	ok := errors.As(err, &e)
	return e, ok
}
