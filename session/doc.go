// Package session keeps server-side sessions for signed-in users, built on
// github.com/alexedwards/scs/v2.
package session
