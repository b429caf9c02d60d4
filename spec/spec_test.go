package spec

import (
	"strings"
	"testing"
)

func TestTypeError(t *testing.T) {
	for _, c := range []struct {
		t    Type
		v    any
		want string // "" = accepted, else a substring of the reason
	}{
		{String, "x", ""}, {String, 5.0, ""}, {String, nil, ""},
		{String, map[string]any{}, "is an object"}, {String, []any{}, "is a list"},
		{Number, 5432.0, ""}, {Number, int64(1), ""}, {Number, " 5432 ", ""}, {Number, "", ""},
		{Number, "abc", "not a number"}, {Number, true, "want a number"},
		{Bool, true, ""}, {Bool, "true", ""}, {Bool, "0", ""}, {Bool, 1.0, ""},
		{Bool, "yes please", "other than true or false"},
		{Object, map[string]any{"a": 1.0}, ""}, {Object, "x", "want an object"},
		{Text, "-----BEGIN", ""},
	} {
		got := TypeError(c.t, c.v)
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("TypeError(%s, %#v) = %q, want %q", c.t, c.v, got, c.want)
		}
	}
}

func TestValidateRejectsMalformedSpecs(t *testing.T) {
	for name, c := range map[string]Credential{
		"no adaptor":    {Fields: []Field{{Name: "a", Type: String, Doc: "d"}}},
		"bad type":      {Adaptor: "x", Fields: []Field{{Name: "a", Type: "date", Doc: "d"}}},
		"no doc":        {Adaptor: "x", Fields: []Field{{Name: "a", Type: String}}},
		"duplicate":     {Adaptor: "x", Fields: []Field{{Name: "a", Type: String, Doc: "d"}, {Name: "b", Type: String, Doc: "d", Aliases: []string{"a"}}}},
		"anyOf unknown": {Adaptor: "x", Fields: []Field{{Name: "a", Type: String, Doc: "d"}}, AnyOf: [][]string{{"b"}}},
	} {
		if c.validate() == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	ok := Credential{Adaptor: "x", Fields: []Field{{Name: "a", Type: String, Doc: "d", Aliases: []string{"b"}}}, AnyOf: [][]string{{"b"}}}
	if err := ok.validate(); err != nil {
		t.Fatal(err)
	}
	if f, found := ok.Field("b"); !found || f.Name != "a" {
		t.Errorf("alias lookup: %+v %v", f, found)
	}
}
