//go:build !unix

package testenv

// recordSkip does nothing here: the skip summary needs a Unix system.
func recordSkip(env, test string) {}
