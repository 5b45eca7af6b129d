package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"time"
)

// aeadSuites are the TLS 1.2 cipher suites the server offers: ECDHE key
// exchange (forward secrecy) with an AEAD cipher, ECDSA and RSA
// certificates alike. CBC suites (ECDHE-ECDSA-AES128-SHA and the like,
// which Go's default list still accepts) are left out: they are
// MAC-then-encrypt, the family of Lucky13 and POODLE-style padding
// oracles, and what testssl.sh and sslscan mark as weak. TLS 1.3 suites
// are not configurable in Go and are all AEAD.
var aeadSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// hardenTLS sets the server's protocol policy on c, the certificate-file
// and the ACME set-ups alike, and returns it: TLS 1.2 and 1.3 only, TLS
// 1.2 with aeadSuites only, and HTTP/2 offered (ALPN) when c names no
// protocols. Session tickets stay on, with keys from startTicketKeys.
func hardenTLS(c *tls.Config) *tls.Config {
	c.MinVersion = tls.VersionTLS12
	c.CipherSuites = aeadSuites
	if len(c.NextProtos) == 0 {
		c.NextProtos = []string{"h2", "http/1.1"}
	}
	return c
}

// ticketKeyRotation is how often startTicketKeys makes a new
// session-ticket key. Each key encrypts new tickets for one period and is
// still accepted for one more, so that no key, and no ticket, outlives
// two periods: a day.
const ticketKeyRotation = 12 * time.Hour

// startTicketKeys gives c a fresh session-ticket key now and a new one
// every period until ctx ends, keeping only the previous key besides.
//
// Session tickets are kept, not disabled: a returning browser resumes
// without a new certificate signature, and in TLS 1.3 a resumption still
// makes a fresh ECDHE exchange (Go accepts only psk_dhe_ke). Their risk is
// the key: whoever steals it reads the TLS 1.2 sessions whose tickets it
// sealed, and can resume TLS 1.3 ones. Go's own keys are used for 24 hours
// and accepted for 7 days; these live at most 2×period, and only in this
// process's memory, so a restart forgets them. Each instance has its own:
// a ticket resumes only on the instance that issued it, and a full
// handshake happens elsewhere.
func startTicketKeys(ctx context.Context, c *tls.Config, period time.Duration) {
	var cur, prev [32]byte
	rotate := func() {
		prev = cur
		_, _ = rand.Read(cur[:]) // crypto/rand.Read never fails (Go 1.24+)
		keys := [][32]byte{cur}
		if prev != ([32]byte{}) {
			keys = append(keys, prev)
		}
		c.SetSessionTicketKeys(keys)
	}
	rotate()
	go func() {
		t := time.NewTicker(period)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				rotate()
			}
		}
	}()
}
