package upstream

import "github.com/gatehouse-dev/gatehouse"

// Check reports whether NewPool would accept cfg on this node (its TLS files load), without
// building a pool. The admin API calls it before a write, so that a missing CA file is
// refused at once rather than failing the next configuration swap.
func Check(cfg gatehouse.Upstream) error {
	_, _, err := resolve(cfg)
	return err
}
