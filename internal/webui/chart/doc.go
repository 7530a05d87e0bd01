// Package chart draws the time-series charts of the developer portal and the operator
// dashboard on the server, as inline SVG inside a <figure>: a chart is part of the HTML
// the page already sends, so it needs no JavaScript, no chart library and no second
// request, and it prints, zooms and reads in a screen reader (a <title>, a <desc> and a
// data table) like the rest of the page.
//
// Those pages run under a strict Content-Security-Policy (default-src 'none';
// style-src 'self'; script-src 'self'), so the markup has no style attributes, no
// inline scripts and no event handlers: colours come from classes (s0…s5) in the
// embedded chart.css, and the one script, live.js, is a file served by Static. Every
// caller-supplied string is escaped and every number is finite, so hostile API or
// series names come out as text.
//
// Live charts (LiveFigure) are the one place script is needed: live.js follows a
// Server-Sent Events stream and redraws the figure each second. A page using it must
// also allow the stream with connect-src 'self' (default-src 'none' forbids it).
package chart
