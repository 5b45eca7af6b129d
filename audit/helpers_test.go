package audit

import (
	"strconv"
	"time"

	"github.com/deployedworks/rampart/identity"
)

func testEvent(i int, cat Category) Event {
	return Event{
		Time: time.Date(2026, 1, 1, 0, 0, 0, i, time.UTC), Category: cat,
		Action: "test.event", Outcome: OutcomeSuccess, Actor: identity.Principal{UserID: "u" + strconv.Itoa(i)},
		Meta: map[string]string{"i": strconv.Itoa(i)},
	}
}

// must returns v, panicking on err: for constructors in tests.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
