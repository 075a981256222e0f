package uilocale

import "testing"

func TestApply(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string // LANGUAGE afterwards
	}{
		{"C.UTF-8", map[string]string{"LANG": "C.UTF-8"}, "en"},
		{"C.utf8", map[string]string{"LANG": "C.utf8"}, "en"},
		{"POSIX with a modifier", map[string]string{"LANG": "POSIX@euro"}, "en"},
		{"LC_ALL decides", map[string]string{"LC_ALL": "C.UTF-8", "LANG": "de_DE.UTF-8"}, "en"},
		{"LC_MESSAGES before LANG", map[string]string{"LC_MESSAGES": "C.UTF-8", "LANG": "fr_FR.UTF-8"}, "en"},
		{"plain C is understood", map[string]string{"LANG": "C"}, ""},
		{"plain POSIX is understood", map[string]string{"LANG": "POSIX"}, ""},
		{"a real language", map[string]string{"LANG": "de_DE.UTF-8"}, ""},
		{"LC_ALL with a real language", map[string]string{"LC_ALL": "pt_BR.UTF-8", "LANG": "C.UTF-8"}, ""},
		{"a language named C-something", map[string]string{"LANG": "Cy_GB.UTF-8"}, ""},
		{"nothing set", map[string]string{}, ""},
		{"LANGUAGE is left alone", map[string]string{"LANG": "C.UTF-8", "LANGUAGE": "fr:en"}, "fr:en"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			env := map[string]string{}
			for k, v := range tt.env {
				env[k] = v
			}
			apply(func(k string) string { return env[k] }, func(k, v string) error { env[k] = v; return nil })
			if got := env["LANGUAGE"]; got != tt.want {
				t.Fatalf("LANGUAGE = %q, want %q", got, tt.want)
			}
		})
	}
}
