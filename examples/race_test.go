//go:build race

package examples_test

// When the tests run with -race, the examples they build do too, so that a data
// race in an example fails its test.
func init() { buildFlags = append(buildFlags, "-race") }
