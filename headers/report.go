package headers

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strings"
	"unicode/utf8"
)

// Media types of violation reports.
const (
	// MediaTypeCSPReport is the type of CSP2 report-uri bodies.
	MediaTypeCSPReport = "application/csp-report"
	// MediaTypeReports is the type of Reporting API (report-to) bodies.
	MediaTypeReports = "application/reports+json"
)

// Errors returned by [parseReports].
var (
	// errReportType means the body's media type is neither
	// [MediaTypeCSPReport] nor [MediaTypeReports].
	errReportType = errors.New("headers: unsupported report media type")
	// errReportMalformed means the body is not a well-formed report of its
	// media type.
	errReportMalformed = errors.New("headers: malformed violation report")
)

// violation is one CSP violation report, validated and normalised from either
// body format. URLs lose their query and fragment (they can carry tokens),
// control characters and invalid UTF-8 are replaced, and every string is
// truncated, so a violation is safe to log.
type violation struct {
	// Format is "csp-report" or "reports+json": the body format it came in.
	Format string
	// DocumentURL is the page where the violation happened.
	DocumentURL string
	// Referrer is the page's referrer, if any.
	Referrer string
	// BlockedURL is the resource that was blocked, or a keyword such as
	// "inline" or "eval".
	BlockedURL string
	// EffectiveDirective is the directive that was violated, such as
	// "script-src-elem".
	EffectiveDirective string
	// Disposition is "enforce" (blocked) or "report" (report-only).
	Disposition string
	// SourceFile, LineNumber and ColumnNumber locate the violation.
	SourceFile   string
	LineNumber   int
	ColumnNumber int
	// StatusCode is the HTTP status of the page.
	StatusCode int
	// Sample is the start of the blocked inline script or style, when the
	// policy asked for it with [ReportSample].
	Sample string
}

// Limits on report content.
const (
	maxURLLen    = 256
	maxSampleLen = 64
	maxTokenLen  = 64
)

// cspReportBody is the CSP2 report-uri format, which CSP3 keeps as the
// "deprecated serialization" of a violation.
type cspReportBody struct {
	DocumentURI        *string `json:"document-uri"`
	Referrer           *string `json:"referrer"`
	BlockedURI         *string `json:"blocked-uri"`
	ViolatedDirective  *string `json:"violated-directive"`
	EffectiveDirective *string `json:"effective-directive"`
	OriginalPolicy     *string `json:"original-policy"`
	Disposition        *string `json:"disposition"`
	SourceFile         *string `json:"source-file"`
	ScriptSample       *string `json:"script-sample"`
	LineNumber         *int    `json:"line-number"`
	ColumnNumber       *int    `json:"column-number"`
	StatusCode         *int    `json:"status-code"`
}

// reportEnvelope is one entry of a Reporting API (report-to) body.
type reportEnvelope struct {
	Type      *string         `json:"type"`
	Age       *int64          `json:"age"`
	URL       *string         `json:"url"`
	UserAgent *string         `json:"user_agent"`
	Body      json.RawMessage `json:"body"`
}

// cspViolationBody is the body of a "csp-violation" report (CSP3
// CSPViolationReportBody).
type cspViolationBody struct {
	DocumentURL        *string `json:"documentURL"`
	Referrer           *string `json:"referrer"`
	BlockedURL         *string `json:"blockedURL"`
	EffectiveDirective *string `json:"effectiveDirective"`
	OriginalPolicy     *string `json:"originalPolicy"`
	SourceFile         *string `json:"sourceFile"`
	Sample             *string `json:"sample"`
	Disposition        *string `json:"disposition"`
	StatusCode         *int    `json:"statusCode"`
	LineNumber         *int    `json:"lineNumber"`
	ColumnNumber       *int    `json:"columnNumber"`
}

// parseReports parses a violation report body whose Content-Type is
// contentType, and returns its CSP violations, at most maxReports of them
// (further entries of a Reporting API batch are dropped). It accepts
// [MediaTypeCSPReport] (one report) and [MediaTypeReports] (a batch, from
// which reports of other types such as "deprecation" are skipped).
//
// parseReports is strict and fails closed: wrong JSON types, missing
// required members (the document URL and the directive), trailing data,
// negative numbers and out-of-range values are [errReportMalformed]; other
// media types are [errReportType]. Error texts never quote the input.
func parseReports(contentType string, body []byte, maxReports int) ([]violation, error) {
	switch reportMediaType(contentType) {
	case MediaTypeCSPReport:
		var outer struct {
			Report *cspReportBody `json:"csp-report"`
		}
		if err := decodeStrict(body, &outer); err != nil || outer.Report == nil {
			return nil, malformed("csp-report: want an object with a \"csp-report\" member")
		}
		rep, err := outer.Report.normalise()
		if err != nil {
			return nil, err
		}
		if maxReports < 1 {
			return nil, nil
		}
		return []violation{rep}, nil
	case MediaTypeReports:
		var batch []reportEnvelope
		if err := decodeStrict(body, &batch); err != nil {
			return nil, malformed("reports+json: want an array of report objects")
		}
		if len(batch) == 0 {
			return nil, malformed("reports+json: empty batch")
		}
		var out []violation
		for i := range batch {
			e := &batch[i]
			if e.Type == nil || !validToken(*e.Type) || e.URL == nil || (e.Age != nil && *e.Age < 0) {
				return nil, malformed(fmt.Sprintf("reports+json: entry %d: want type, url and a non-negative age", i))
			}
			if *e.Type != "csp-violation" {
				continue
			}
			if len(e.Body) == 0 || e.Body[0] != '{' {
				return nil, malformed(fmt.Sprintf("reports+json: entry %d: csp-violation without an object body", i))
			}
			var b cspViolationBody
			if err := decodeStrict(e.Body, &b); err != nil {
				return nil, malformed(fmt.Sprintf("reports+json: entry %d: malformed body", i))
			}
			rep, err := b.normalise()
			if err != nil {
				return nil, err
			}
			if len(out) < maxReports {
				out = append(out, rep)
			}
		}
		return out, nil
	}
	return nil, errReportType
}

// reportMediaType returns the report media type named by a Content-Type
// value, or "".
func reportMediaType(contentType string) string {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil || (mt != MediaTypeCSPReport && mt != MediaTypeReports) {
		return ""
	}
	return mt
}

func malformed(detail string) error {
	return fmt.Errorf("%w: %s", errReportMalformed, detail)
}

// decodeStrict decodes one JSON value from body into v and rejects any
// trailing data.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data")
	}
	return nil
}

func (b *cspReportBody) normalise() (violation, error) {
	dir := b.EffectiveDirective
	if dir == nil || *dir == "" {
		// CSP2 browsers send only violated-directive, possibly followed by
		// its source list: the directive is its first word.
		if b.ViolatedDirective != nil {
			d, _, _ := strings.Cut(*b.ViolatedDirective, " ")
			dir = &d
		}
	}
	return normalise(report{
		format: "csp-report", doc: b.DocumentURI, referrer: b.Referrer, blocked: b.BlockedURI,
		directive: dir, disposition: b.Disposition, source: b.SourceFile, sample: b.ScriptSample,
		line: b.LineNumber, column: b.ColumnNumber, status: b.StatusCode,
	})
}

func (b *cspViolationBody) normalise() (violation, error) {
	return normalise(report{
		format: "reports+json", doc: b.DocumentURL, referrer: b.Referrer, blocked: b.BlockedURL,
		directive: b.EffectiveDirective, disposition: b.Disposition, source: b.SourceFile, sample: b.Sample,
		line: b.LineNumber, column: b.ColumnNumber, status: b.StatusCode,
	})
}

// report is the common shape of both formats before validation.
type report struct {
	format                                                         string
	doc, referrer, blocked, directive, disposition, source, sample *string
	line, column, status                                           *int
}

func normalise(in report) (violation, error) {
	out := violation{Format: in.format}
	if in.doc == nil || !validDocumentURL(*in.doc) {
		return out, malformed(in.format + ": missing or invalid document URL")
	}
	if in.directive == nil || !validToken(*in.directive) {
		return out, malformed(in.format + ": missing or invalid directive")
	}
	out.DocumentURL = cleanURL(*in.doc)
	out.EffectiveDirective = *in.directive
	out.Referrer = cleanURL(deref(in.referrer))
	out.BlockedURL = cleanURL(deref(in.blocked))
	out.SourceFile = cleanURL(deref(in.source))
	out.Sample = clean(deref(in.sample), maxSampleLen)
	switch d := deref(in.disposition); d {
	case "", "enforce", "report":
		out.Disposition = d
	default:
		return out, malformed(in.format + ": disposition must be enforce or report")
	}
	for _, n := range []struct {
		p   *int
		dst *int
		max int
	}{{in.line, &out.LineNumber, 1 << 30}, {in.column, &out.ColumnNumber, 1 << 30}, {in.status, &out.StatusCode, 999}} {
		if n.p == nil {
			continue
		}
		if *n.p < 0 || *n.p > n.max {
			return out, malformed(in.format + ": number out of range")
		}
		*n.dst = *n.p
	}
	return out, nil
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// validDocumentURL accepts absolute http, https and about: URLs.
func validDocumentURL(s string) bool {
	if s == "" || len(s) > 8192 {
		return false
	}
	u, err := url.Parse(s)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "http", "https":
		return u.Host != ""
	case "about":
		return true
	}
	return false
}

// validToken accepts a lower-case directive or report type name.
func validToken(s string) bool {
	if s == "" || len(s) > maxTokenLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// cleanURL drops the query and fragment of a URL (keywords such as
// "inline" pass through) and cleans the rest for logging.
func cleanURL(s string) string {
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	return clean(s, maxURLLen)
}

// clean replaces control characters and invalid UTF-8 with U+FFFD and
// truncates s to at most max bytes on a rune boundary.
func clean(s string, max int) string {
	ok := len(s) <= max && utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		if s[i] < 0x20 || s[i] == 0x7f {
			ok = false
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = utf8.RuneError
		}
		if b.Len()+utf8.RuneLen(r) > max {
			break
		}
		b.WriteRune(r)
	}
	return b.String()
}
