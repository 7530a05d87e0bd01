package config

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/gatehouse-dev/gatehouse"
	"github.com/gatehouse-dev/gatehouse/internal/yamlpos"
)

// BindFlags defines the flags of the node settings on fs: --config and one flag per
// setting that has one. Load reads back only the flags the user set, so the defaults shown
// in help never override the file or the environment.
func BindFlags(fs *pflag.FlagSet) {
	d := defaults()
	fs.String(FlagConfig, "", "YAML `file` of node settings (default $"+EnvConfig+")")
	for _, s := range settings() {
		if s.flag == "" {
			continue
		}
		switch p := s.ptr(&d).(type) {
		case *bool:
			fs.Bool(s.flag, *p, s.usage)
		default:
			fs.String(s.flag, valueString(p), s.usage)
		}
	}
}

// valueString formats the field p points to the way setValue reads it back.
func valueString(p any) string {
	switch p := p.(type) {
	case *string:
		return *p
	case *bool:
		return strconv.FormatBool(*p)
	case *int:
		return formatSize(int64(*p))
	case *int64:
		return formatSize(*p)
	case *gatehouse.Duration:
		return p.String()
	}
	return fmt.Sprint(p)
}

// Load returns the node settings: defaults, then the YAML file named by the --config flag
// (if set) or else by $GATEHOUSE_CONFIG (if set), then GATEHOUSE_* environment variables,
// then the flags of fs the user set. An empty environment variable counts as unset. Any of
// fs, getenv and readFile may be nil to skip that source.
//
// Every problem in every layer is reported in one *Error. A file that cannot be read is
// a plain wrapped error (errors.Is(err, fs.ErrNotExist) works).
func Load(fs *pflag.FlagSet, getenv func(string) string, readFile func(string) ([]byte, error)) (Config, error) {
	l := newLoader()
	path := ""
	if fs != nil {
		if f := fs.Lookup(FlagConfig); f != nil && f.Changed {
			path = f.Value.String()
		}
	}
	if path == "" && getenv != nil {
		path = getenv(EnvConfig)
	}
	if path != "" {
		if readFile == nil {
			return Config{}, fmt.Errorf("reading config file %s: no file reader given", path)
		}
		data, err := readFile(path)
		if err != nil {
			return Config{}, fmt.Errorf("reading config file: %w", err)
		}
		l.file(path, data)
	}
	if getenv != nil {
		for _, s := range settings() {
			if v := getenv(s.env()); v != "" {
				l.set(s, v, Problem{Source: "env " + s.env()})
			}
		}
	}
	if fs != nil {
		for _, s := range settings() {
			if s.flag == "" {
				continue
			}
			if f := fs.Lookup(s.flag); f != nil && f.Changed {
				l.set(s, f.Value.String(), Problem{Source: "flag --" + s.flag})
			}
		}
	}
	return l.finish()
}

// Parse reads settings from one YAML file over the defaults, without the environment or
// flags: `gatehouse config validate FILE` uses it. name is used in problem positions.
func Parse(name string, data []byte) (Config, error) {
	l := newLoader()
	l.file(name, data)
	return l.finish()
}

// loader applies layers to a Config and collects problems.
type loader struct {
	c        Config
	problems []Problem
	// from records where each setting's value came from, to blame the right source for a
	// problem found across settings. Settings at their default are absent.
	from map[string]Problem
}

func newLoader() *loader {
	return &loader{c: defaults(), from: map[string]Problem{}}
}

func (l *loader) add(at Problem, field, msg string) {
	at.Field, at.Message = field, msg
	l.problems = append(l.problems, at)
}

// set parses value into setting s, checks it and records at as its source. A value is
// checked as soon as it is read, so a bad file value is reported even when the
// environment overrides it: the file is still wrong.
func (l *loader) set(s setting, value string, at Problem) {
	if err := setValue(s.ptr(&l.c), value); err != nil {
		l.add(at, s.key, err.Error())
		return
	}
	l.from[s.key] = at
	if s.check != nil {
		if msg := s.check(&l.c); msg != "" {
			l.add(at, s.key, msg)
		}
	}
}

// finish derives defaults that follow other settings, checks settings against each other
// and returns the result.
func (l *loader) finish() (Config, error) {
	l.c.deriveStore()
	for _, pair := range listenerConflicts(&l.c) {
		key, other := pair[0], pair[1]
		at, set := l.from[key]
		if !set {
			// The later listener is at its default; blame the one the user moved onto it.
			key, other = other, key
			at = l.from[key]
		}
		l.add(at, key, fmt.Sprintf("uses the same port as %s (%q)", other, addrOf(&l.c, other)))
	}
	// Checked here, not per setting: the broker and its URL may come from different layers.
	if l.c.Realtime.Broker == "nats" && l.c.Realtime.NATSURL == "" {
		l.add(l.from["realtime.broker"], "realtime.broker", "nats needs realtime.nats_url = nats://host:port")
	}
	if len(l.problems) > 0 {
		yamlpos.Sort(l.problems)
		return Config{}, &Error{Problems: l.problems}
	}
	return l.c, nil
}

func addrOf(c *Config, key string) string {
	s, _ := settingByKey(key)
	if s.ptr == nil {
		return ""
	}
	return valueString(s.ptr(c))
}

// file decodes one YAML file through yaml.Node, so that every problem has a position.
func (l *loader) file(name string, data []byte) {
	doc, problems := yamlpos.Decode(name, data, "a config file")
	l.problems = append(l.problems, problems...)
	if doc == nil || len(doc.Content) == 0 {
		return // empty, or only comments, and the defaults stand; or unreadable
	}
	top := yamlpos.Resolve(doc.Content[0])
	switch {
	case isNull(top):
	case top.Kind != yaml.MappingNode:
		l.add(Problem{Source: name, Line: doc.Content[0].Line, Column: doc.Content[0].Column}, "",
			"want a mapping of settings at the top level, got "+describe(top))
	default:
		l.mapping(name, top, "")
	}
}

// mapping applies the keys of m, a mapping of the settings under prefix ("" or "log.").
func (l *loader) mapping(name string, m *yaml.Node, prefix string) {
	at := func(n *yaml.Node) Problem { return Problem{Source: name, Line: n.Line, Column: n.Column} }
	names, groups := children(prefix)
	seen := map[string]int{}
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		kr, vr := yamlpos.Resolve(k), yamlpos.Resolve(v)
		if kr.Kind != yaml.ScalarNode {
			l.add(at(k), strings.TrimSuffix(prefix, "."), "keys must be plain names, got "+describe(kr))
			continue
		}
		if kr.ShortTag() == "!!merge" {
			l.add(at(k), strings.TrimSuffix(prefix, "."), "merge keys (<<) are not supported in node settings")
			continue
		}
		path := prefix + kr.Value
		if line, dup := seen[kr.Value]; dup {
			l.add(at(k), path, fmt.Sprintf("set twice (first at line %d)", line))
			continue
		}
		seen[kr.Value] = k.Line
		group, known := groups[kr.Value]
		if !known {
			msg := "unknown setting"
			if s := suggestKey(prefix, kr.Value, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			l.add(at(k), path, msg)
			continue
		}
		if isNull(vr) {
			continue // a key without a value keeps its default
		}
		if group {
			if vr.Kind != yaml.MappingNode {
				sub, _ := children(path + ".")
				msg := fmt.Sprintf("want a mapping with the keys %s, got %s", strings.Join(sub, ", "), describe(vr))
				if vr.Kind == yaml.ScalarNode && slices.Contains(sub, "enabled") {
					msg += fmt.Sprintf(" (to switch it on, write %s: {enabled: true})", path)
				}
				l.add(at(v), path, msg)
				continue
			}
			l.mapping(name, vr, path+".")
			continue
		}
		s, ok := settingByKey(path)
		if !ok {
			continue // unreachable: children lists only keys of settings
		}
		if vr.Kind != yaml.ScalarNode {
			l.add(at(v), path, fmt.Sprintf("want %s, got %s", want(s.ptr(&l.c)), describe(vr)))
			continue
		}
		l.set(s, vr.Value, at(v))
	}
}

// children lists the keys directly under prefix in table order, and whether each one is a
// group of settings (a nested mapping) rather than a setting.
func children(prefix string) (names []string, group map[string]bool) {
	group = map[string]bool{}
	for _, s := range settings() {
		rest, ok := strings.CutPrefix(s.key, prefix)
		if !ok {
			continue
		}
		name, _, nested := strings.Cut(rest, ".")
		if _, dup := group[name]; !dup {
			names = append(names, name)
		}
		group[name] = nested
	}
	return names, group
}

func settingByKey(key string) (setting, bool) {
	for _, s := range settings() {
		if s.key == key {
			return s, true
		}
	}
	return setting{}, false
}

// suggestKey finds the setting an unknown key probably meant: a sibling with a close
// spelling, or a setting elsewhere whose last segment or flattened path matches (a
// top-level "level" means "log.level", "demo_upstream_addr" means "demo.upstream_addr").
func suggestKey(prefix, key string, siblings []string) string {
	var forms []string
	display := map[string]string{}
	addForm := func(form, disp string) {
		if _, ok := display[form]; !ok {
			forms = append(forms, form)
			display[form] = disp
		}
	}
	for _, s := range siblings {
		addForm(s, prefix+s)
	}
	for _, s := range settings() {
		addForm(strings.ReplaceAll(s.key, ".", "_"), s.key)
		if i := strings.LastIndexByte(s.key, '.'); i >= 0 {
			addForm(s.key[i+1:], s.key)
		}
	}
	best := yamlpos.Suggest(key, forms)
	if best == "" || display[best] == prefix+key {
		return ""
	}
	return display[best]
}

func want(p any) string {
	switch p.(type) {
	case *bool:
		return "true or false"
	case *int, *int64:
		return "a size in bytes"
	case *gatehouse.Duration:
		return `a duration such as "30s"`
	}
	return "a string"
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// describe names the kind of n for "want X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		case "!!null":
			return "nothing"
		}
		return fmt.Sprintf("the string %q", n.Value)
	}
	return "an alias"
}
