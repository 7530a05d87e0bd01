package config

import "github.com/gatehouse-dev/gatehouse/internal/yamlpos"

// Problem is one thing wrong with the settings, with where the offending value came from.
// Its Source is the file name, "env GATEHOUSE_..." or "flag --...", and empty for a
// problem no single source is to blame for; Line and Column are set only for a file;
// Field is the setting's YAML path, such as "log.level".
type Problem = yamlpos.Problem

// Error lists every problem found while loading settings: file problems first in file
// order, then those from the environment and from flags.
type Error = yamlpos.Error
