package jsoncheck

import (
	"errors"
	"strings"
	"testing"
)

func TestUTF8(t *testing.T) {
	for _, tc := range []struct {
		in     string
		offset int // -1: valid
		b      byte
	}{
		{`{"name":"Zoë 日本"}`, -1, 0},
		{"{\"a\":\"\xff\"}", 6, 0xff},
		{"{\"a\":\"ok\xc3\"}", 8, 0xc3},       // truncated sequence
		{"{\"a\":\"\xed\xa0\x80\"}", 6, 0xed}, // UTF-16 surrogate encoded as UTF-8
		{"\xc0\xaf", 0, 0xc0},                 // overlong
	} {
		err := UTF8([]byte(tc.in))
		var ue *UTF8Error
		if tc.offset < 0 {
			if err != nil {
				t.Errorf("%q: %v", tc.in, err)
			}
			continue
		}
		if !errors.As(err, &ue) || ue.Offset != tc.offset || ue.Byte != tc.b {
			t.Errorf("%q: %v, want offset %d byte %#x", tc.in, err, tc.offset, tc.b)
		}
	}
}

func TestDepth(t *testing.T) {
	nest := func(n int) string { return strings.Repeat("[", n) + strings.Repeat("]", n) }
	for _, tc := range []struct {
		in     string
		offset int // -1: within the limit
	}{
		{nest(10), -1},
		{nest(11), 10},
		{`{"a":"[[[[[[[[[[[[[[[[[[[["}`, -1},           // brackets in strings
		{`{"a":"\"[[[[[[[[[[[[[[[[[[[[["}`, -1},        // after an escaped quote
		{`{"a":{"b":{"c":{"d":{"e":{"f":{}}}}}}}`, -1}, // 7 levels
		{`[{"a":` + nest(9) + `}]`, 14},                // [{ then nine: the ninth is level 11
	} {
		err := Depth([]byte(tc.in), 10)
		var de *DepthError
		if tc.offset < 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.in, err)
			}
			continue
		}
		if !errors.As(err, &de) || de.Offset != tc.offset || !strings.Contains(err.Error(), "more than 10 levels") {
			t.Errorf("%s: %v, want offset %d", tc.in, err, tc.offset)
		}
	}
}
