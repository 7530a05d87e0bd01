package webtest

// a11yJS finds the accessibility faults a page test can check without a screen reader.
// Each is one line naming the element (tag#id, or tag[name=...]/[type=...]/[src=...]).
//   - a form field (input but hidden/submit/reset/button/image, select, textarea) with
//     no label: none of label[for] or a wrapping <label> with text, aria-label, or
//     aria-labelledby naming elements with text;
//   - an <img> or <input type=image> without alt (alt="" marks a decorative image);
//   - not exactly one <h1>;
//   - no <title>, or an empty one.
const a11yJS = `(() => {
	const out = [];
	const describe = el => {
		const tag = el.tagName.toLowerCase();
		if (el.id) return tag + "#" + el.id;
		for (const a of ["name", "type", "src"]) {
			const v = el.getAttribute(a);
			if (v) return tag + "[" + a + "=" + JSON.stringify(v) + "]";
		}
		const all = Array.from(document.getElementsByTagName(tag));
		return tag + " (" + (all.indexOf(el) + 1) + " of " + all.length + ")";
	};
	const text = el => (el.textContent || "").trim();
	const unlabelled = new Set(["hidden", "submit", "reset", "button", "image"]);
	for (const el of document.querySelectorAll("input, select, textarea")) {
		const type = (el.getAttribute("type") || "").toLowerCase();
		if (el.tagName === "INPUT" && unlabelled.has(type)) continue;
		if ((el.getAttribute("aria-label") || "").trim()) continue;
		const ids = (el.getAttribute("aria-labelledby") || "").split(/\s+/).filter(Boolean);
		if (ids.map(id => document.getElementById(id)).filter(Boolean).map(text).join("")) continue;
		if (Array.from(el.labels || []).map(text).join("")) continue;
		let why = "no label (label[for], aria-label or aria-labelledby)";
		if (ids.length) why = "aria-labelledby=" + JSON.stringify(ids.join(" ")) + " names no element with text";
		else if (el.labels && el.labels.length) why = "its <label> has no text";
		out.push(describe(el) + ": " + why);
	}
	for (const el of document.querySelectorAll("img, input[type=image i]")) {
		if (!el.hasAttribute("alt")) out.push(describe(el) + ": no alt attribute (alt=\"\" if it is decorative)");
	}
	const h1 = document.getElementsByTagName("h1").length;
	if (h1 !== 1) out.push("page: " + h1 + " <h1> elements, want exactly one");
	if (!document.querySelector("title")) out.push("page: no <title>");
	else if (!document.title.trim()) out.push("page: empty <title>");
	return out;
})()`

// A11y checks the page for the faults every page of Gatehouse must be free of, and returns
// them, one line each, or none: a form field (<input>, <select>, <textarea>) without a
// label (label[for] or a wrapping <label>, aria-label, or aria-labelledby), an image
// without alt, not exactly one <h1>, no <title>. Buttons (submit, reset, button, image
// inputs) are named by their value or alt and need no label.
func (b *Browser) A11y() []string {
	b.t.Helper()
	var out []string
	b.evalFor("check accessibility", "", a11yJS, &out)
	return out
}
