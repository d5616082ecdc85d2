//go:build linux && !race

package fastlua

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The hostile scripts that try to build a huge value in one call (testdata/escape/blowup_*,
// and the concatenations of TestConcatBounded and TestConcatFromTheCap) run in a child process
// whose address space is capped at 3 GiB, under GOMEMLIMIT: a builtin or an operator that built
// its output before bounding it (string.format with "%[1]s" a thousand times over a 4 MB string
// wants 4 GB in one call, so does one `..` of ten 400 MB strings) kills the child with "fatal
// error: out of memory"; bounded, the child passes. (Not under -race, whose shadow memory needs
// far more address space.)
func TestEscapesSurviveAMemoryCap(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the escape tests again in a child process")
	}
	if _, err := exec.LookPath("sh"); err != nil {
		t.Skip("no sh to set the child's ulimit")
	}
	cmd := exec.Command("sh", "-c", `ulimit -v 3145728 && exec "$@"`, "sh", os.Args[0],
		"-test.run", "^(TestEscapes|TestConcatBounded|TestConcatFromTheCap)$/^(blowup_|huge_|bomb_)", "-test.count", "1")
	cmd.Env = append(os.Environ(), "GOMEMLIMIT=512MiB", "GOGC=50")
	out, err := cmd.CombinedOutput()
	if err != nil {
		text := string(out)
		if i := strings.Index(text, "fatal error"); i >= 0 {
			text = text[i:min(len(text), i+2000)]
		} else if len(text) > 4000 {
			text = text[len(text)-4000:]
		}
		t.Fatalf("the escape tests failed under a 3 GiB address space: %v\n%s", err, text)
	}
	if !strings.Contains(string(out), "PASS") {
		t.Fatalf("the child ran no test:\n%s", out)
	}
}
