// Package nilarg is the one nil check of Rampart's constructors: whether a
// required argument is missing, including a nil pointer inside an
// interface (a *redis.Client or *session.Manager that was never set),
// which == nil does not catch and which would otherwise fail on the first
// request instead of at start-up.
package nilarg

import "reflect"

// Is reports whether v is nil: a nil interface, or an interface holding a
// nil pointer, map, slice, func, channel or interface.
func Is(v any) bool {
	if v == nil {
		return true
	}
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan, reflect.Interface, reflect.UnsafePointer:
		return rv.IsNil()
	}
	return false
}
