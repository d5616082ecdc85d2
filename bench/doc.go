// Package bench holds fastlua's benchmarks (go test -bench . ./bench) and, in loadserver, the
// server ../shared/bench/sidebyside.sh drives. See README.md in this directory for how to
// reproduce every figure.
package bench
