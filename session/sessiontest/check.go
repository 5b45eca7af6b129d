package sessiontest

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// The checks below report like testify's, with the standard library only:
// assert* marks the test failed and goes on, require* stops it.

func msg(args []any) string {
	if len(args) == 0 {
		return ""
	}
	if f, ok := args[0].(string); ok {
		return ": " + fmt.Sprintf(f, args[1:]...)
	}
	return ": " + fmt.Sprint(args...)
}

func report(t testing.TB, stop bool, format string, a ...any) {
	t.Helper()
	if stop {
		t.Fatalf(format, a...)
	}
	t.Errorf(format, a...)
}

func isEmpty(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Map, reflect.String, reflect.Array, reflect.Chan:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return rv.IsZero()
}

func equal(t testing.TB, stop bool, want, got any, args []any) bool {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		report(t, stop, "got %#v, want %#v%s", got, want, msg(args))
		return false
	}
	return true
}

func contains(s, sub any) bool {
	if str, ok := s.(string); ok {
		return strings.Contains(str, fmt.Sprint(sub))
	}
	rv := reflect.ValueOf(s)
	if rv.Kind() == reflect.Slice {
		for i := range rv.Len() {
			if reflect.DeepEqual(rv.Index(i).Interface(), sub) {
				return true
			}
		}
	}
	return false
}

func assertEqual(t testing.TB, want, got any, args ...any) bool {
	t.Helper()
	return equal(t, false, want, got, args)
}

func requireEqual(t testing.TB, want, got any, args ...any) {
	t.Helper()
	equal(t, true, want, got, args)
}

func assertNotEqual(t testing.TB, a, b any, args ...any) {
	t.Helper()
	if reflect.DeepEqual(a, b) {
		t.Errorf("both are %#v%s", a, msg(args))
	}
}

func requireNotEqual(t testing.TB, a, b any, args ...any) {
	t.Helper()
	if reflect.DeepEqual(a, b) {
		t.Fatalf("both are %#v%s", a, msg(args))
	}
}

func assertTrue(t testing.TB, v bool, args ...any) bool {
	t.Helper()
	if !v {
		t.Errorf("false, want true%s", msg(args))
	}
	return v
}

func requireTrue(t testing.TB, v bool, args ...any) {
	t.Helper()
	if !v {
		t.Fatalf("false, want true%s", msg(args))
	}
}

func assertFalse(t testing.TB, v bool, args ...any) bool {
	t.Helper()
	if v {
		t.Errorf("true, want false%s", msg(args))
	}
	return !v
}

func assertEmpty(t testing.TB, v any, args ...any) bool {
	t.Helper()
	if !isEmpty(v) {
		t.Errorf("%#v, want empty%s", v, msg(args))
		return false
	}
	return true
}

func requireNotEmpty(t testing.TB, v any, args ...any) {
	t.Helper()
	if isEmpty(v) {
		t.Fatalf("empty%s", msg(args))
	}
}

func requireNotNil(t testing.TB, v any, args ...any) {
	t.Helper()
	if v == nil || isEmpty(v) && reflect.ValueOf(v).Kind() == reflect.Pointer {
		t.Fatalf("nil%s", msg(args))
	}
}

func lenCheck(t testing.TB, stop bool, v any, n int, args []any) {
	t.Helper()
	if l := reflect.ValueOf(v).Len(); l != n {
		report(t, stop, "%#v has %d elements, want %d%s", v, l, n, msg(args))
	}
}

func assertLen(t testing.TB, v any, n int, args ...any) {
	t.Helper()
	lenCheck(t, false, v, n, args)
}

func requireLen(t testing.TB, v any, n int, args ...any) {
	t.Helper()
	lenCheck(t, true, v, n, args)
}

func assertContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if !contains(s, sub) {
		t.Errorf("%#v does not contain %#v%s", s, sub, msg(args))
	}
}

func requireContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if !contains(s, sub) {
		t.Fatalf("%#v does not contain %#v%s", s, sub, msg(args))
	}
}

func assertNotContains(t testing.TB, s, sub any, args ...any) {
	t.Helper()
	if contains(s, sub) {
		t.Errorf("%#v contains %#v%s", s, sub, msg(args))
	}
}

func assertElementsMatch(t testing.TB, want, got []string, args ...any) {
	t.Helper()
	w, g := slices.Sorted(slices.Values(want)), slices.Sorted(slices.Values(got))
	if !slices.Equal(w, g) {
		t.Errorf("got %q, want the elements of %q%s", got, want, msg(args))
	}
}

func assertNegative(t testing.TB, n int, args ...any) {
	t.Helper()
	if n >= 0 {
		t.Errorf("%d, want negative%s", n, msg(args))
	}
}

func assertErrorIs(t testing.TB, err, target error, args ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Errorf("error %v, want one wrapping %v%s", err, target, msg(args))
	}
}

func requireNoError(t testing.TB, err error, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error %v%s", err, msg(args))
	}
}
