package password

import (
	"bytes"
	"context"
	"crypto/sha1" // #nosec G505 -- the k-anonymity range API of Have I Been Pwned is keyed by SHA-1
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// BreachChecker reports whether a password is known from a data breach.
// [Policy] asks it last, with the normalised password, and never at login.
// Implementations must be safe for concurrent use and should honour ctx;
// an error makes the policy fail closed unless
// PolicyConfig.AllowOnBreachCheckError is set. [RangeClient] implements it
// for Have I Been Pwned; a local copy of the corpus can implement it too.
type BreachChecker interface {
	Breached(ctx context.Context, password string) (bool, error)
}

var _ BreachChecker = (*RangeClient)(nil)

// DefaultRangeURL is the Have I Been Pwned Pwned Passwords range endpoint.
const DefaultRangeURL = "https://api.pwnedpasswords.com/range/"

// maxRangeBody bounds a range response. Real ones are about 40 KB (800 to
// 1,000 lines with padding).
const maxRangeBody = 1 << 20

// RangeClientConfig tunes a [RangeClient]. The zero value queries Have I
// Been Pwned.
type RangeClientConfig struct {
	// BaseURL is the range endpoint; the 5-character hash prefix is
	// appended to it. Default [DefaultRangeURL]. It must be https, or
	// http to a loopback address (a local mirror).
	BaseURL string

	// HTTPClient sends the requests. Default: a client with a 5-second
	// timeout, so that a slow service cannot hold a registration open.
	HTTPClient *http.Client

	// UserAgent is sent with each request, as the API asks. Default
	// "rampart-auth".
	UserAgent string

	// DisablePadding stops asking for padded responses. By default the
	// client sends "Add-Padding: true", so that the size of the response
	// does not reveal the prefix to an observer of the encrypted traffic.
	DisablePadding bool

	// MinCount is how many times a password must appear in breaches to
	// count as breached. Default 1.
	MinCount int
}

// RangeClient checks passwords against a Pwned Passwords range API with
// k-anonymity: it sends only the first 5 hex characters of the password's
// SHA-1 and compares the returned suffixes locally, so that neither the
// service nor anyone on the path learns the password or its full hash
// (https://haveibeenpwned.com/API/v3#PwnedPasswords). It is safe for
// concurrent use.
//
// It fails closed: a network error, a status other than 200, a response
// over 1 MiB or a line that is not "SUFFIX:COUNT" is an error, never a
// "not breached". Its errors never contain the password, its hash or the
// hash prefix, so that they can be logged.
type RangeClient struct {
	base      string
	client    *http.Client
	userAgent string
	padding   bool
	minCount  int
}

// NewRangeClient returns a RangeClient configured by cfg, or an error for a
// base URL that is not https (or loopback http) or a negative MinCount.
func NewRangeClient(cfg RangeClientConfig) (*RangeClient, error) {
	c := &RangeClient{base: cfg.BaseURL, client: cfg.HTTPClient, userAgent: cfg.UserAgent,
		padding: !cfg.DisablePadding, minCount: cfg.MinCount}
	if c.base == "" {
		c.base = DefaultRangeURL
	}
	u, err := url.Parse(c.base)
	if err != nil || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, errors.New("password: RangeClientConfig.BaseURL must be an absolute URL without query, such as " + DefaultRangeURL)
	}
	if u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname())) {
		return nil, errors.New("password: RangeClientConfig.BaseURL must use https (http only to a loopback mirror)")
	}
	if !strings.HasSuffix(c.base, "/") {
		c.base += "/"
	}
	if c.client == nil {
		c.client = &http.Client{Timeout: 5 * time.Second}
	}
	if c.userAgent == "" {
		c.userAgent = "rampart-auth"
	}
	switch {
	case c.minCount < 0:
		return nil, errors.New("password: RangeClientConfig.MinCount is negative: leave it 0 for the default of 1")
	case c.minCount == 0:
		c.minCount = 1
	}
	return c, nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Breached reports whether password appears at least MinCount times in the
// breach corpus. It hashes password as given (UTF-8): pass the normalised
// form, as [Policy] does.
func (c *RangeClient) Breached(ctx context.Context, password string) (bool, error) {
	sum := sha1.Sum([]byte(password)) // #nosec G401 -- the k-anonymity range API of Have I Been Pwned is keyed by SHA-1; not used to store or protect anything
	h := strings.ToUpper(hex.EncodeToString(sum[:]))
	prefix, suffix := h[:5], h[5:]

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+prefix, nil)
	if err != nil {
		return false, fmt.Errorf("password: breach check: %w", err)
	}
	req.Header.Set("User-Agent", c.userAgent)
	if c.padding {
		req.Header.Set("Add-Padding", "true")
	}
	resp, err := c.client.Do(req)
	if err != nil {
		// Drop the URL (*url.Error names it), which holds the hash prefix:
		// the error is logged, and the prefix narrows the password down.
		if ue := (*url.Error)(nil); errors.As(err, &ue) {
			err = ue.Err
		}
		return false, fmt.Errorf("password: breach check: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("password: breach check: status %d from the range API", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxRangeBody+1))
	if err != nil {
		return false, fmt.Errorf("password: breach check: reading response: %w", err)
	}
	if len(body) > maxRangeBody {
		return false, fmt.Errorf("password: breach check: response larger than %d bytes", maxRangeBody)
	}
	n, err := parseRange(body, suffix)
	if err != nil {
		return false, fmt.Errorf("password: breach check: %w", err)
	}
	return n >= c.minCount, nil
}

// parseRange reads a range response, lines of "SUFFIX:COUNT" where SUFFIX
// is the 35 hex characters of SHA-1 after the prefix and COUNT a decimal,
// separated by CRLF or LF, and returns the count for suffix (0 when
// absent; padding lines also have count 0). Every line is validated, so
// that a truncated or substituted response is an error.
func parseRange(body []byte, suffix string) (int, error) {
	found := 0
	for lineNo := 1; len(body) > 0; lineNo++ {
		var line []byte
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			line, body = body, nil
		}
		line = bytes.TrimSuffix(line, []byte("\r"))
		if len(line) == 0 && len(body) == 0 {
			break // final newline
		}
		s, countText, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(s) != 35 || !isHex(s) {
			return 0, fmt.Errorf("range response line %d: want SUFFIX:COUNT", lineNo)
		}
		count, err := strconv.Atoi(string(countText))
		if err != nil || len(countText) > 10 || bytes.ContainsFunc(countText, func(r rune) bool { return r < '0' || r > '9' }) {
			return 0, fmt.Errorf("range response line %d: bad count", lineNo)
		}
		if strings.EqualFold(string(s), suffix) {
			found = max(found, count)
		}
	}
	return found, nil
}

func isHex(b []byte) bool {
	for _, c := range b {
		if !('0' <= c && c <= '9' || 'A' <= c && c <= 'F' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
