package headers

import (
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// Source is one source expression of a Content-Security-Policy directive
// (CSP Level 3, §2.3.1): a keyword such as [Self], a scheme such as
// "https:", a host such as "https://cdn.example.com", a hash made with
// [SHA256], or [NonceSource]. Any other string is rejected by [New].
type Source string

// Source keywords. Anything that weakens a policy carries "Unsafe" in its
// name.
const (
	// Self matches the page's own origin.
	Self Source = "'self'"
	// None matches nothing. It must be the only source of its directive.
	None Source = "'none'"
	// StrictDynamic lets a script that was trusted through a nonce or hash
	// load further scripts, and makes browsers ignore host and scheme
	// sources in script-src (CSP3 §8.2). Only valid in ScriptSrc.
	StrictDynamic Source = "'strict-dynamic'"
	// NonceSource stands for this request's nonce: the middleware writes
	// 'nonce-<value>' in its place and makes the value available through
	// [Nonce]. Only valid in ScriptSrc and StyleSrc.
	NonceSource Source = "'nonce'"
	// ReportSample asks the browser to include the first 40 characters of
	// the blocked script or style in violation reports.
	ReportSample Source = "'report-sample'"
	// WasmUnsafeEval allows WebAssembly compilation without allowing eval.
	// Only valid in ScriptSrc.
	WasmUnsafeEval Source = "'wasm-unsafe-eval'"
	// UnsafeInline allows inline styles, including style attributes. It is
	// accepted only in StyleSrc: in ScriptSrc it would allow injected
	// scripts, so [New] rejects it there.
	UnsafeInline Source = "'unsafe-inline'"
)

// SHA256 returns the hash source ('sha256-…') that allows exactly the
// inline script or style whose text is content (CSP3 §2.3.1). Hash
// sources need no nonce and suit static inline snippets.
func SHA256(content string) Source {
	sum := sha256.Sum256([]byte(content))
	return Source("'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'")
}

// CSP is a typed Content-Security-Policy (CSP Level 3). A nil directive
// takes its default; the defaults make the strict policy
//
//	default-src 'self'; script-src 'nonce-…' 'strict-dynamic';
//	style-src 'self' 'nonce-…'; object-src 'none'; base-uri 'none';
//	frame-ancestors 'none'; form-action 'self'
//
// Directives without a default (ImgSrc, ConnectSrc, …) are left out when
// nil, so they fall back to default-src. A non-nil empty slice is an error:
// say [None] instead.
type CSP struct {
	// DefaultSrc is the fallback for every fetch directive left out.
	// Default: 'self'.
	DefaultSrc []Source
	// ScriptSrc controls scripts. Default: [NonceSource] and
	// [StrictDynamic], the "strict CSP" that needs no host allow-list
	// (https://web.dev/articles/strict-csp). 'unsafe-inline',
	// 'unsafe-eval', data:, http:, https: and * are rejected here.
	ScriptSrc []Source
	// StyleSrc controls style sheets and inline styles. Default: 'self'
	// and [NonceSource]. Add [UnsafeInline] if your pages use style
	// attributes.
	StyleSrc []Source
	// ImgSrc, FontSrc, ConnectSrc, MediaSrc, FrameSrc, WorkerSrc and
	// ManifestSrc control their kinds of fetch. Default: left out, so
	// DefaultSrc applies.
	ImgSrc, FontSrc, ConnectSrc, MediaSrc, FrameSrc, WorkerSrc, ManifestSrc []Source
	// ObjectSrc controls plugins (<object>, <embed>). Default: 'none'.
	ObjectSrc []Source
	// BaseURI restricts <base href>. Default: 'none', so injected <base>
	// tags cannot redirect relative script URLs.
	BaseURI []Source
	// FrameAncestors restricts who may frame the page. Default: 'none'.
	// It also sets X-Frame-Options for browsers without CSP2: DENY for
	// 'none', SAMEORIGIN for 'self' alone, and no X-Frame-Options header
	// for anything else (that header cannot express a list).
	FrameAncestors []Source
	// FormAction restricts where forms may submit. Default: 'self'.
	FormAction []Source

	// UpgradeInsecureRequests adds upgrade-insecure-requests, which makes
	// the browser fetch http: subresources over https. Default: off,
	// because it breaks plain-HTTP development servers.
	UpgradeInsecureRequests bool
	// RequireTrustedTypes adds require-trusted-types-for 'script', which
	// makes DOM XSS sinks accept only Trusted Types. Default: off, because
	// most front-end code needs changes first.
	RequireTrustedTypes bool

	// ReportURI is where browsers send violation reports: a path such as
	// "/csp-report" or an absolute https URL. It is written both as
	// report-uri (CSP2 browsers) and, through a Reporting-Endpoints header
	// naming it "csp-endpoint", as report-to (Reporting API). Serve it
	// with [Reports]. Default: no reports.
	ReportURI string
	// ReportOnly sends the policy as Content-Security-Policy-Report-Only:
	// browsers report violations but block nothing. Use it to trial a
	// policy; it protects nothing. Default: false (enforce).
	ReportOnly bool
}

// reportEndpoint is the Reporting-Endpoints name used by report-to.
const reportEndpoint = "csp-endpoint"

// clone returns a deep copy of c.
func (c CSP) clone() CSP {
	for _, d := range c.directives() {
		if *d.list != nil {
			*d.list = append([]Source{}, *d.list...)
		}
	}
	return c
}

type directive struct {
	name string
	list *[]Source
	def  []Source
}

// directives lists c's source-list directives in output order, pointing
// into c.
func (c *CSP) directives() []directive {
	return []directive{
		{"default-src", &c.DefaultSrc, []Source{Self}},
		{"script-src", &c.ScriptSrc, []Source{NonceSource, StrictDynamic}},
		{"style-src", &c.StyleSrc, []Source{Self, NonceSource}},
		{"img-src", &c.ImgSrc, nil},
		{"font-src", &c.FontSrc, nil},
		{"connect-src", &c.ConnectSrc, nil},
		{"media-src", &c.MediaSrc, nil},
		{"frame-src", &c.FrameSrc, nil},
		{"worker-src", &c.WorkerSrc, nil},
		{"manifest-src", &c.ManifestSrc, nil},
		{"object-src", &c.ObjectSrc, []Source{None}},
		{"base-uri", &c.BaseURI, []Source{None}},
		{"frame-ancestors", &c.FrameAncestors, []Source{None}},
		{"form-action", &c.FormAction, []Source{Self}},
	}
}

// withDefaults returns a copy of c with every nil defaulted directive
// filled in.
func (c CSP) withDefaults() CSP {
	c = c.clone()
	for _, d := range c.directives() {
		if *d.list == nil && d.def != nil {
			*d.list = append([]Source{}, d.def...)
		}
	}
	return c
}

// compiledCSP is a policy split around its nonce placeholders.
type compiledCSP struct {
	header string   // header name
	parts  []string // literal text; the nonce goes between consecutive parts
	size   int      // total literal length
	xfo    string   // X-Frame-Options value, or ""
}

// compile validates c (already defaulted) and renders it.
func (c *CSP) compile() (compiledCSP, error) {
	var (
		out   compiledCSP
		parts []string
		b     strings.Builder
	)
	out.header = "Content-Security-Policy"
	if c.ReportOnly {
		out.header = "Content-Security-Policy-Report-Only"
	}
	sep := func() {
		if b.Len() > 0 {
			b.WriteString("; ")
		}
	}
	for _, d := range c.directives() {
		list := *d.list
		if list == nil {
			continue
		}
		if err := checkSources(d.name, list); err != nil {
			return out, err
		}
		sep()
		b.WriteString(d.name)
		for _, s := range list {
			b.WriteByte(' ')
			if s == NonceSource {
				b.WriteString("'nonce-")
				parts = append(parts, b.String())
				b.Reset()
				b.WriteByte('\'')
				continue
			}
			b.WriteString(string(s))
		}
	}
	if c.UpgradeInsecureRequests {
		sep()
		b.WriteString("upgrade-insecure-requests")
	}
	if c.RequireTrustedTypes {
		sep()
		b.WriteString("require-trusted-types-for 'script'")
	}
	if c.ReportURI != "" {
		if err := checkReportURI(c.ReportURI); err != nil {
			return out, err
		}
		sep()
		b.WriteString("report-uri " + c.ReportURI + "; report-to " + reportEndpoint)
	}
	out.parts = append(parts, b.String())
	for _, p := range out.parts {
		out.size += len(p)
	}
	out.size += (len(out.parts) - 1) * nonceLen
	switch fa := c.FrameAncestors; {
	case len(fa) == 1 && fa[0] == None:
		out.xfo = "DENY"
	case len(fa) == 1 && fa[0] == Self:
		out.xfo = "SAMEORIGIN"
	}
	return out, nil
}

// checkSources validates the source list of one directive.
func checkSources(name string, list []Source) error {
	if len(list) == 0 {
		return fmt.Errorf("headers: CSP %s: empty source list; use headers.None to allow nothing", name)
	}
	seen := make(map[Source]bool, len(list))
	for _, s := range list {
		if err := checkSource(name, s); err != nil {
			return err
		}
		if seen[s] {
			return fmt.Errorf("headers: CSP %s: source %q listed twice", name, s)
		}
		seen[s] = true
	}
	if seen[None] && len(list) > 1 {
		return fmt.Errorf("headers: CSP %s: 'none' must be the only source", name)
	}
	if seen[StrictDynamic] && !seen[NonceSource] && !hasHash(list) {
		return fmt.Errorf("headers: CSP %s: 'strict-dynamic' without a nonce or hash blocks every script; add headers.NonceSource", name)
	}
	return nil
}

func hasHash(list []Source) bool {
	for _, s := range list {
		if isHash(s) {
			return true
		}
	}
	return false
}

var errUnsafeScript = errors.New("allows injected scripts; use headers.NonceSource with headers.StrictDynamic, or a headers.SHA256 hash")

// checkSource validates one source expression for directive name.
func checkSource(name string, s Source) error {
	script := name == "script-src"
	switch s {
	case Self, None, ReportSample:
		return nil
	case StrictDynamic, WasmUnsafeEval:
		if !script {
			return fmt.Errorf("headers: CSP %s: %s is only valid in script-src", name, s)
		}
		return nil
	case NonceSource:
		if !script && name != "style-src" {
			return fmt.Errorf("headers: CSP %s: a nonce is only valid in script-src and style-src", name)
		}
		return nil
	case UnsafeInline:
		if name != "style-src" {
			return fmt.Errorf("headers: CSP %s: 'unsafe-inline' %w", name, errUnsafeScript)
		}
		return nil
	case "*", "http:", "https:", "data:":
		if script || name == "object-src" || name == "base-uri" {
			return fmt.Errorf("headers: CSP %s: %s %w", name, s, errUnsafeScript)
		}
		return nil
	}
	str := string(s)
	if isHash(s) {
		if name != "script-src" && name != "style-src" {
			return fmt.Errorf("headers: CSP %s: a hash is only valid in script-src and style-src", name)
		}
		return nil
	}
	if strings.HasPrefix(str, "'") {
		if str == "'unsafe-eval'" && script {
			return fmt.Errorf("headers: CSP %s: 'unsafe-eval' lets injected strings run as code; remove it or use headers.WasmUnsafeEval for WebAssembly", name)
		}
		return fmt.Errorf("headers: CSP %s: unsupported keyword %q; use the headers.Source constants", name, s)
	}
	if !validSourceText(str) {
		return fmt.Errorf("headers: CSP %s: invalid source %q: want a scheme such as \"https:\" or a host such as \"https://cdn.example.com\"", name, s)
	}
	if script && (strings.HasPrefix(str, "http://") || strings.HasPrefix(str, "*")) {
		return fmt.Errorf("headers: CSP %s: %q %w", name, s, errUnsafeScript)
	}
	return nil
}

// isHash reports whether s is a well-formed hash source.
func isHash(s Source) bool {
	str := string(s)
	for _, alg := range []struct {
		prefix string
		size   int
	}{{"'sha256-", 32}, {"'sha384-", 48}, {"'sha512-", 64}} {
		if v, ok := strings.CutPrefix(str, alg.prefix); ok {
			v, ok = strings.CutSuffix(v, "'")
			if !ok {
				return false
			}
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				b, err = base64.RawURLEncoding.DecodeString(v)
			}
			return err == nil && len(b) == alg.size
		}
	}
	return false
}

// validSourceText accepts scheme-source and host-source text (CSP3
// §2.3.1) without quotes, spaces, separators or controls.
func validSourceText(s string) bool {
	if s == "" || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("-._~:/*%?=&+@!$[]", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// checkReportURI accepts "/path" or an absolute https URL, with no
// characters that could end the directive or the header.
func checkReportURI(u string) error {
	switch {
	case strings.HasPrefix(u, "//"):
	case strings.HasPrefix(u, "/"), strings.HasPrefix(u, "https://"):
		if validSourceText(u) {
			return nil
		}
	}
	return fmt.Errorf("headers: CSP ReportURI %q: want a path such as \"/csp-report\" or an https URL without spaces, quotes, commas or semicolons", u)
}
