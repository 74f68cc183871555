package envelope

import "testing"

func TestFormatLabel(t *testing.T) {
	for f, want := range map[Format]string{FormatSession: "modern (cmq1)", FormatSeed: "seed (reference RSA)"} {
		if got := f.Label(); got != want {
			t.Errorf("%v.Label() = %q, want %q", f, got, want)
		}
	}
}
