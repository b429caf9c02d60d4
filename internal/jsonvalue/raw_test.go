package jsonvalue

import (
	"encoding/json"
	"testing"
)

func TestWithoutKey(t *testing.T) {
	for in, want := range map[string]string{
		`{"data":{"b":1,"a":2},"configuration":{"password":"x"},"z":[1]}`: `{"data":{"b":1,"a":2},"z":[1]}`,
		`{"configuration":1}`:      `{}`,
		`{"a":1}`:                  `{"a":1}`,
		` {"a" : 1, "b":"<&>"} `:   ` {"a" : 1, "b":"<&>"} `, // nothing removed: untouched
		`[{"configuration":1}]`:    `[{"configuration":1}]`,
		`not json`:                 `not json`,
		`{"x":"a","configuration"`: `{"x":"a","configuration"`,
		// members keep their keys and values as written, joined compactly
		` { "a" : [1, {"}":"]"}] ,"configuration" : {"k":"\"}"}, "b":true } `: `{"a":[1, {"}":"]"}],"b":true}`,
		`{"config\u0075ration":1,"x\n":"y"}`:                                  `{"x\n":"y"}`,
		`{"a":1,"configuration":2,"configuration":3}`:                         `{"a":1}`,
		`{"a":1} trailing`: `{"a":1} trailing`,
	} {
		if got := string(WithoutKey(json.RawMessage(in), "configuration")); got != want {
			t.Errorf("WithoutKey(%s) = %s, want %s", in, got, want)
		}
	}
}

func TestField(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		ok       bool
	}{
		{`{"data":{"b":1,"a":[2]},"x":1}`, `{"b":1,"a":[2]}`, true},
		{`{"data":"text","data":"last"}`, `"last"`, true},
		{`{"other":1}`, ``, false},
		{`[1]`, ``, false},
		{`{"data":null}`, `null`, true},
		{` { "x" : {"data":1} , "d\u0061ta" : [ 1 , 2 ] } `, `[ 1 , 2 ]`, true},
		{`{"data":"a\"}b"}`, `"a\"}b"`, true},
		{`{"data":1`, ``, false},
		{`{"data":tru}`, ``, false},
	} {
		got, ok := Field(json.RawMessage(tc.in), "data")
		if string(got) != tc.want || ok != tc.ok {
			t.Errorf("Field(%s) = %s %v, want %s %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
