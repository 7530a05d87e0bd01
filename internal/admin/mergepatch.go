package admin

import (
	"encoding/json"
	"fmt"

	"github.com/gatehouse-dev/gatehouse"
)

// mergePatch applies an RFC 7396 JSON merge patch to target and returns the result. Both
// are generic JSON (as decoded with UseNumber). Neither input is modified: the stored
// resource a handler patches must stay intact if validation then fails.
func mergePatch(target, patch any) any {
	pm, ok := patch.(map[string]any)
	if !ok {
		return patch // a non-object patch replaces the whole target
	}
	tm, _ := target.(map[string]any)
	out := make(map[string]any, len(tm)+len(pm))
	for k, v := range tm {
		out[k] = v
	}
	for k, v := range pm {
		if v == nil {
			delete(out, k)
			continue
		}
		out[k] = mergePatch(out[k], v)
	}
	return out
}

// toDoc turns a stored resource into generic JSON for patching.
func toDoc(v any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding stored resource: %w", err)
	}
	m, err := decodeDoc(b)
	if err != nil { // our own encoding failed to parse: a bug, not the caller's input
		return nil, &gatehouse.Error{Code: gatehouse.EInternal, Message: "internal error",
			Err: fmt.Errorf("decoding stored resource: %w", err)}
	}
	return m, nil
}
