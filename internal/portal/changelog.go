package portal

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/gatehouse-dev/gatehouse"
)

// The changelog of an API is read from the audit log: every write to the API that left
// it published or deprecated, summarised for developers (new version, deprecation,
// reference or routes changed). Writes while it was a draft are not shown: they may
// describe what is not public yet. Who made a change is not shown either.

type changeEntry struct {
	Date    string
	ISO     string
	Changes []string
}

// changelogSize bounds the entries shown.
const changelogSize = 20

type apiSnap struct {
	Version     string             `json:"version"`
	State       gatehouse.APIState `json:"state"`
	Description string             `json:"description"`
	OpenAPI     string             `json:"openapi"`
	Routes      json.RawMessage    `json:"routes"`
	Sunset      *string            `json:"sunset"`
	Path        string             `json:"path"`
}

func (p *portal) changelog(ctx context.Context, api string) []changeEntry {
	pg, err := p.opts.Store.AuditEntries(ctx, gatehouse.AuditFilter{Resource: gatehouse.KindAPI, Name: api,
		ListOptions: gatehouse.ListOptions{Limit: 100}})
	if err != nil {
		p.opts.Logger.Error("portal changelog", "api", api, "err", err)
		return nil
	}
	var out []changeEntry
	for _, e := range pg.Items { // newest first
		if e.Action != gatehouse.ActionCreate && e.Action != gatehouse.ActionUpdate {
			continue
		}
		var before, after apiSnap
		if json.Unmarshal(e.After, &after) != nil || !after.State.Served() {
			continue
		}
		if len(e.Before) > 0 {
			_ = json.Unmarshal(e.Before, &before)
		}
		changes := describe(before, after, !before.State.Served())
		if len(changes) == 0 {
			continue
		}
		out = append(out, changeEntry{Date: e.At.UTC().Format("2 January 2006"), ISO: e.At.UTC().Format("2006-01-02T15:04:05Z"), Changes: changes})
		if len(out) == changelogSize {
			break
		}
	}
	return out
}

func describe(before, after apiSnap, published bool) []string {
	var c []string
	if published {
		if after.Version != "" {
			c = append(c, "Published, version "+after.Version+".")
		} else {
			c = append(c, "Published.")
		}
		return c
	}
	if after.Version != before.Version && after.Version != "" {
		c = append(c, "New version "+after.Version+" (was "+orNone(before.Version)+").")
	}
	if after.State != before.State {
		switch after.State {
		case gatehouse.StateDeprecated:
			c = append(c, "Deprecated.")
		case gatehouse.StatePublished:
			c = append(c, "No longer deprecated.")
		}
	}
	if (after.Sunset == nil) != (before.Sunset == nil) || (after.Sunset != nil && before.Sunset != nil && *after.Sunset != *before.Sunset) {
		if after.Sunset != nil {
			c = append(c, "Sunset date set.")
		} else {
			c = append(c, "Sunset date removed.")
		}
	}
	if after.OpenAPI != before.OpenAPI {
		c = append(c, "Reference documentation updated.")
	}
	if !slices.Equal(after.Routes, before.Routes) && after.OpenAPI == before.OpenAPI {
		c = append(c, "Routes changed.")
	}
	if after.Path != before.Path {
		c = append(c, "Base path changed to "+after.Path+".")
	}
	if after.Description != before.Description && len(c) == 0 {
		c = append(c, "Description updated.")
	}
	return c
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
