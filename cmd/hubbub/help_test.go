package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help print the flags and exit 0; an unknown flag
// still exits 2 with the usage.
func TestHelpExitsZero(t *testing.T) {
	for _, tc := range []struct {
		arg  string
		code int
	}{{"-h", 0}, {"--help", 0}, {"--no-such-flag", 2}} {
		t.Run(tc.arg, func(t *testing.T) {
			cmd := exec.Command(os.Args[0], tc.arg)
			cmd.Env = append(os.Environ(), runMainEnv+"=1")
			out, err := cmd.CombinedOutput()
			code := 0
			var exit *exec.ExitError
			if errors.As(err, &exit) {
				code = exit.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("hubbub %s: exit %d, want %d; output:\n%s", tc.arg, code, tc.code, out)
			}
			if !strings.Contains(string(out), "-addr") {
				t.Errorf("hubbub %s: output has no usage:\n%s", tc.arg, out)
			}
		})
	}
}
