package bench

import "net/http"

// discardWriter is a ResponseWriter that keeps only its header map, which
// the benchmarks clear between requests, so that they measure the
// middleware rather than a recorder, and map growth costs the same for
// every contender.
type discardWriter struct{ h http.Header }

func newDiscardWriter() *discardWriter { return &discardWriter{h: make(http.Header, 8)} }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
