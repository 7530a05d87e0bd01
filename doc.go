// Package gatehouse holds the domain of Gatehouse, an API management system: the resources
// users see (APIs, plans, developers, apps, keys, subscriptions, admin tokens, audit
// entries), their validation rules, the error type with its stable codes, and the Store and
// Notifier interfaces that persist them. It imports only the standard library; every
// implementation lives under internal/.
package gatehouse
