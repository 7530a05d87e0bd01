package webtest

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/chromedp/cdproto/accessibility"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// Focus describes the element that has the keyboard focus.
type Focus struct {
	Tag  string // lower case: "input", "a", "button"; "body" when nothing is focused
	ID   string
	Name string // the accessible name, as Chromium's accessibility tree computes it
	Role string // the accessibility role: "textbox", "link", "button", ...
}

// String names the element for a test's expectations: "#id" when it has an id, else its
// role and accessible name (`button "Save"`), else its tag.
func (f Focus) String() string {
	switch {
	case f.ID != "":
		return "#" + f.ID
	case f.Name != "":
		return f.Role + " " + strconv.Quote(f.Name)
	}
	return f.Tag
}

// Press sends key events to the focused element, for each rune of keys: text, or the
// named keys of github.com/chromedp/chromedp/kb (kb.Enter, kb.Escape, kb.ArrowDown, ...).
func (b *Browser) Press(keys string, modifiers ...chromedp.Modifier) {
	b.t.Helper()
	var opts []chromedp.KeyOption
	if len(modifiers) > 0 {
		opts = append(opts, chromedp.KeyModifiers(modifiers...))
	}
	b.run(fmt.Sprintf("press %q", keys), "", chromedp.KeyEvent(keys, opts...))
}

// Tab presses Tab and returns the element that has the focus then.
func (b *Browser) Tab() Focus {
	b.t.Helper()
	b.Press(kb.Tab)
	return b.Focused()
}

// ShiftTab presses Shift+Tab and returns the element that has the focus then.
func (b *Browser) ShiftTab() Focus {
	b.t.Helper()
	b.Press(kb.Tab, chromedp.ModifierShift)
	return b.Focused()
}

// TabOrder presses Tab n times and returns where the focus went each time (Focus.String),
// for comparison with the order a keyboard user should meet the page's controls in.
func (b *Browser) TabOrder(n int) []string {
	b.t.Helper()
	out := make([]string, 0, n)
	for range n {
		out = append(out, b.Tab().String())
	}
	return out
}

// Focused returns the element that has the keyboard focus (document.activeElement).
func (b *Browser) Focused() Focus {
	b.t.Helper()
	return value(b, "read the focused element", "", func(ctx context.Context, t *chromedp.Target) (Focus, error) {
		const group = "webtest-focus"
		defer cdp.Call(ctx, t, runtime.ReleaseObjectGroup, runtime.ReleaseObjectGroupParams{ObjectGroup: group})
		el, err := chromedp.Evaluate[*runtime.RemoteObject]("document.activeElement || document.body", chromedp.EvalObjectGroup(group))(ctx, t)
		if err != nil {
			return Focus{}, err
		}
		var f Focus
		attrs, err := cdp.Call(ctx, t, runtime.CallFunctionOn, runtime.CallFunctionOnParams{
			FunctionDeclaration: `function() { return {tag: this.tagName.toLowerCase(), id: this.id}; }`,
			ObjectID:            el.ObjectID,
			ReturnByValue:       new(true),
		})
		if err != nil {
			return Focus{}, err
		}
		var v struct{ Tag, ID string }
		if err := json.Unmarshal(attrs.Result.Value, &v); err != nil {
			return Focus{}, fmt.Errorf("decoding the focused element: %w", err)
		}
		f.Tag, f.ID = v.Tag, v.ID
		ax, err := cdp.Call(ctx, t, accessibility.GetPartialAXTree, accessibility.GetPartialAXTreeParams{
			ObjectID: el.ObjectID, FetchRelatives: new(false),
		})
		if err != nil {
			return Focus{}, fmt.Errorf("reading the accessibility tree: %w", err)
		}
		if len(ax.Nodes) > 0 {
			f.Name = axString(ax.Nodes[0].Name)
			f.Role = axString(ax.Nodes[0].Role)
		}
		return f, nil
	})
}

func axString(v *accessibility.Value) string {
	if v == nil || len(v.Value) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(v.Value, &s) != nil {
		return string(v.Value)
	}
	return s
}
