// Package deptest keeps the package layout of DESIGN.md honest, in the
// manner of tailscale's tstest/deptest: a package's test lists the imports
// it must never gain, with the reason, and go list -deps checks them.
package deptest

import (
	"os/exec"
	"strings"
	"testing"
)

// BadDeps fails t for every package in the dependency closure of pkgs
// (relative to the test's directory) that a key of bad names: the package
// itself or any below it, only the package itself when the key ends in "$",
// and any path starting with the key when it ends in "/". The value says why
// it does not belong.
func BadDeps(t testing.TB, pkgs []string, bad map[string]string) {
	t.Helper()
	out, err := exec.Command("go", append([]string{"list", "-deps"}, pkgs...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps %v: %v: %s", pkgs, err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 5 {
		t.Fatalf("go list -deps %v listed only %q", pkgs, deps)
	}
	for _, dep := range deps {
		for prefix, why := range bad {
			if matches(dep, prefix) {
				t.Errorf("%v imports %s: %s", pkgs, dep, why)
			}
		}
	}
}

func matches(dep, key string) bool {
	if exact, ok := strings.CutSuffix(key, "$"); ok {
		return dep == exact
	}
	if strings.HasSuffix(key, "/") {
		return strings.HasPrefix(dep, key)
	}
	return dep == key || strings.HasPrefix(dep, key+"/")
}
