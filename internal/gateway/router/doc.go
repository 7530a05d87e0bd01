// Package router is the gateway's compiled route table: it maps a request's host, path and
// method to the API that owns it and, when the API lists routes, to the route that matched,
// with its path parameters.
//
// Build compiles a list of entries (one per API) once per configuration; Lookup runs on every
// request, allocates nothing and never panics, whatever it is given. A Table is immutable, so
// any number of goroutines may call Lookup on it at once.
//
// # Hosts
//
// Lookup takes the Host header as it arrives: letters compare case-insensitively (ASCII), a
// port is ignored ("api.example.com:8443"), IPv6 literals may be bracketed ("[::1]:8000" is
// the entry host "::1"), and one trailing dot is dropped ("example.com." is "example.com").
// Entry hosts are an exact name, an IP address, or a wildcard "*.example.com", which matches
// any name below example.com at any depth ("a.example.com", "a.b.example.com") but not
// example.com itself. An entry with no hosts serves every host. A Host longer than 255 bytes
// is no valid name and matches only the entries without hosts.
//
// The host picks buckets in order: the exact host, then every wildcard that matches from the
// longest suffix to the shortest, then the entries without hosts. The first bucket with an
// entry whose prefix matches the path wins, so an exact host that serves only /orders still
// leaves /billing on that host to a wildcard or host-less entry.
//
// # Prefixes
//
// Within a bucket, the entry with the longest matching prefix wins. Prefixes match whole
// segments: "/orders" matches "/orders", "/orders/" and "/orders/1", never "/ordersx"; "/"
// matches every path. Match.Rest is the path after the prefix ("/" when nothing is left), which
// is what an API that strips its prefix sends upstream. An empty path is taken as "/"; any
// other path that does not start with "/" (such as the "*" of "OPTIONS *") matches nothing.
//
// # Ownership
//
// The entry with the longest matching prefix owns the path, even when its routes then do not
// match it: the answer is NotFound, or MethodNotAllowed with the methods that would have
// matched, never a fall back to an entry with a shorter prefix. An API's listen path is a
// promise about who answers everything under it (Tyk's listen paths work the same way);
// falling back would send a mistyped URL of one API to another API's upstream, with the other
// API's policies, and make which API served a request depend on which routes happen to exist.
// Match.Entry and Match.Value name the owner on NotFound and MethodNotAllowed too, so the
// caller can answer and account the error as that API's.
//
// # Routes
//
// An entry without routes serves every path under its prefix, whatever the method. An entry
// with routes serves only those, matched against Match.Rest. A route template is a sequence of
// segments, each static text, "{name}" (exactly one non-empty segment) or, as the last
// segment only, "{name...}" (the rest of the path, possibly empty: "/files/{p...}" matches
// "/files/" with p = "" but not "/files"). At each segment a static segment beats "{name}",
// which beats "{name...}"; when the preferred branch leads nowhere the next one is tried, so
// with "/a/{x}/c" and "/a/b/{y}", "/a/b/c" takes "/a/b/{y}" and "/a/z/c" takes "/a/{x}/c".
//
// Methods take part in the search: the first template in that order with a route accepting
// the method wins, so "GET /users/me" and "DELETE /users/{id}" serve both "GET /users/me" and
// "DELETE /users/me". Within one template an exact method beats a GET route answering HEAD,
// which beats a route with no methods (any method). HEAD is served by a GET route. When some
// template matches the path but none accepts the method the result is MethodNotAllowed, and
// Match.Allow lists, alphabetically, every method of every template that matches the path
// ("DELETE, GET, HEAD"); these lists are computed at Build.
//
// Paths are strict about trailing slashes: "/orders/" does not match the route "/orders", nor
// "/orders" the route "/orders/". The one exception is the entry's own prefix: "/api" and
// "/api/" both leave Rest "/", so both match the route "/" of an entry with prefix "/api".
//
// Lookup compares paths byte for byte: cleaning and decoding the path is the caller's job.
//
// # Build errors
//
// Build reports every problem rather than guessing (up to 20, then a count): two entries with
// the same host and prefix, two routes of one entry with the same method and equivalent
// templates ("/a/{x}" and "/a/{y}"), templates with more than MaxParams parameters, and
// invalid hosts, prefixes, templates and methods. Each error names the entries or routes
// involved. A route with no methods and one listing methods may share a template: the listed
// methods go to the latter, the rest to the former.
//
// RoutesFromOpenAPI derives routes from an OpenAPI 3.x or Swagger 2.0 document, for APIs that
// attach a document instead of listing routes.
package router
