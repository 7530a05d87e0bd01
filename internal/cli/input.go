package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// readInput reads the file named by a -f flag; "-" is standard input.
func (e *env) readInput(name string) ([]byte, error) {
	if name == "-" {
		b, err := io.ReadAll(e.stdin)
		if err != nil {
			return nil, fmt.Errorf("reading standard input: %w", err)
		}
		return b, nil
	}
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading input: %w", err)
	}
	return b, nil
}

// inputName is how messages name the -f input.
func inputName(name string) string {
	if name == "-" {
		return "standard input"
	}
	return name
}

// decodeResource reads one resource from YAML or JSON (JSON is YAML) into v. It goes
// through JSON so that the domain's json tags and types (durations, times, raw policy
// configs) apply exactly as they do on the wire, and rejects unknown fields so a typo in
// a file is an error rather than a silently dropped setting.
func decodeResource(name string, data []byte, v any) error {
	var doc any
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("parsing %s: %w", inputName(name), err)
	}
	if doc == nil {
		return fmt.Errorf("%s holds no resource", inputName(name))
	}
	if _, ok := doc.(map[string]any); !ok {
		return fmt.Errorf("%s must hold one resource as a mapping of fields", inputName(name))
	}
	b, err := json.Marshal(doc)
	if err != nil {
		// yaml decodes mappings with non-string keys (1: x) to a type JSON cannot encode.
		return fmt.Errorf("%s: every field name must be a string: %w", inputName(name), err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("reading %s: %s", inputName(name), strings.TrimPrefix(err.Error(), "json: "))
	}
	return nil
}

// parseTime reads a time flag: an RFC 3339 time, a date (midnight UTC), or a Go duration
// counted from now (negative durations reach into the past).
func parseTime(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(d).UTC().Truncate(time.Second), nil
	}
	return time.Time{}, fmt.Errorf("%q is not a time: want 2027-01-31, 2027-01-31T12:00:00Z or a duration such as 720h", s)
}
