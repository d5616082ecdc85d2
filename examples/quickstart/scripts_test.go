package main

import (
	"testing"

	"github.com/fastlua/fastlua/fastluatest"
)

// The scripts' own tests, scripts/*_test.lua, run by go test as subtests.
func TestScripts(t *testing.T) { fastluatest.Run(t, "scripts") }
