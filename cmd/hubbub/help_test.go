package main

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHelpExitsZero: -h and --help print the flags and the gen subcommand and
// exit 0; an unknown flag still exits 2 with the usage.
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
			// The one subcommand is in the usage too.
			if !strings.Contains(string(out), "hubbub gen ts [-o DIR]") {
				t.Errorf("hubbub %s: usage does not mention gen ts:\n%s", tc.arg, out)
			}
		})
	}
}

// TestHelpHidesSecrets: --help shows no secret taken from the environment (a
// flag's default is its env value), only that the env variable exists; the
// secrets still apply, and a flag given, even empty, still wins.
func TestHelpHidesSecrets(t *testing.T) {
	secrets := map[string]string{
		"HUBBUB_ADMIN_PASSWORD":   "pw-hunter2",
		"HUBBUB_ADMIN_JWT_SECRET": "pw-adminjwt",
		"HUBBUB_JWT_SECRET":       "pw-jwt",
		"HUBBUB_REDIS_URL":        "redis://:pw-redis@127.0.0.1:6379/0",
	}
	cmd := exec.Command(os.Args[0], "--help")
	cmd.Env = append(os.Environ(), runMainEnv+"=1")
	for k, v := range secrets {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("hubbub --help: %v\n%s", err, out)
	}
	for k := range secrets {
		if !strings.Contains(string(out), "env "+k) {
			t.Errorf("--help does not name %s", k)
		}
	}
	if strings.Contains(string(out), "pw-") {
		t.Errorf("--help shows a secret from the environment:\n%s", out)
	}
	cfg, err := parseConfig(nil, func(k string) string { return secrets[k] })
	if err != nil || cfg.adminPassword != "pw-hunter2" || cfg.adminJWTSecret != "pw-adminjwt" || cfg.jwtSecret != "pw-jwt" || cfg.redisURL != secrets["HUBBUB_REDIS_URL"] {
		t.Errorf("secrets from the environment: %+v, %v", cfg, err)
	}
	cfg, err = parseConfig([]string{"--admin-password", "", "--jwt-secret", "f"}, func(k string) string { return secrets[k] })
	if err != nil || cfg.adminPassword != "" || cfg.jwtSecret != "f" {
		t.Errorf("flags given: admin password %q, jwt secret %q, %v; want \"\", \"f\"", cfg.adminPassword, cfg.jwtSecret, err)
	}
}

// TestStrayArgumentsRefused: an argument that is no flag (a typo such as
// "hubbub addr=:9000", or a flag after one) is refused, not ignored.
func TestStrayArgumentsRefused(t *testing.T) {
	for _, args := range [][]string{{"serve"}, {"--addr", "127.0.0.1:0", "extra"}, {"addr=127.0.0.1:9000"}} {
		_, err := parseConfig(args, func(string) string { return "" })
		if err == nil || !strings.Contains(err.Error(), "unexpected argument") {
			t.Errorf("parseConfig(%q): %v; want an unexpected argument error", args, err)
		}
	}
}
