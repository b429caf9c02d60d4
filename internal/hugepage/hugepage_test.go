package hugepage

import "testing"

func TestMode(t *testing.T) {
	for in, want := range map[string]string{
		"always [madvise] never\n": "madvise",
		"[always] madvise never\n": "always",
		"always madvise [never]\n": "never",
		"":                         "",
		"always [madvise":          "",
	} {
		if got := mode(in); got != want {
			t.Errorf("mode(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDisabled(t *testing.T) {
	for in, want := range map[string]bool{
		"":                             false,
		"disablethp=1":                 true,
		"gctrace=1, disablethp=1":      true,
		"disablethp=0":                 false,
		"disablethp=1,disablethp=0":    false,
		"madvdontneed=1,xdisablethp=1": false,
	} {
		if got := disabled(in); got != want {
			t.Errorf("disabled(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestFit(t *testing.T) {
	const mb, page = 1 << 20, 2 << 20
	cases := []struct {
		name              string
		want, used, limit int64
		reserve           int64
	}{
		{"no limit", 256 * mb, 1600 * mb, 0, 256 * mb},
		{"rounded down to huge pages", 255 * mb, 0, 0, 254 * mb},
		{"a quarter of the room under a cap", 256 * mb, 3000 * mb, 3400 * mb, 100 * mb},
		{"plenty of room", 256 * mb, 1600 * mb, 4096 * mb, 256 * mb},
		{"no room", 256 * mb, 4096 * mb, 4000 * mb, 0},
	}
	for _, c := range cases {
		if got := fit(c.want, c.used, c.limit, page); got != c.reserve {
			t.Errorf("%s: fit = %d MiB, want %d MiB", c.name, got/mb, c.reserve/mb)
		}
	}
}
