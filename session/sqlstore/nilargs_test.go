package sqlstore_test

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/deployedworks/rampart/session/sqlstore"
	"github.com/deployedworks/rampart/sqldb"
)

// TestNilArguments: every constructor refuses a nil required argument,
// also a nil pointer inside an interface, with an error that names it and
// says what to pass, and returns no half-built value.
func TestNilArguments(t *testing.T) {

	for _, tc := range []struct {
		name string
		new  func() (any, error)
		want string
	}{
		{"New: db", func() (any, error) { return sqlstore.New(nil, sqldb.SQLite, sqlstore.Config{}) }, "nil *sql.DB: open one"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := tc.new()
			assert.ErrorContains(t, err, tc.want)
			assert.True(t, reflect.ValueOf(v).IsNil(), "no half-built value")
		})
	}
}
