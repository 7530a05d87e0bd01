package declarative

import "github.com/gatehouse-dev/gatehouse/internal/yamlpos"

// Problem is one thing wrong with a document, with where it is. Its Source is the file
// name given to Parse, and empty for problems found outside a file (CheckRefs); Field is
// the path of the offending value, such as "apis[0].upstream.targets[0].url".
type Problem = yamlpos.Problem

// Error lists every problem found in a document, in file order.
type Error = yamlpos.Error
