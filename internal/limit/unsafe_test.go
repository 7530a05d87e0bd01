package limit

import "unsafe"

// unsafeString is how the policies hand a pooled buffer to Allow.
func unsafeString(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }
