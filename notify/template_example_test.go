package notify_test

import (
	"fmt"

	"github.com/deployedworks/rampart/notify"
)

// A template per kind of notice, parsed at start-up; each event renders
// one Message for the outbox. Data in the HTML body is escaped.
func ExampleNewTemplate() {
	changed, err := notify.NewTemplate("email_changed",
		"{{.App}}: your e-mail address was changed",
		"Your address was changed to {{.New}}.\nNot you? Undo it: {{.Undo}}\n",
		`<p>Your address was changed to <b>{{.New}}</b>.</p><p><a href="{{.Undo}}">Not you? Undo it.</a></p>`)
	if err != nil {
		panic(err) // a typo in a template fails at start-up
	}
	m, err := changed.Message("email_changed:req-7f3a:user-42", "old@example.com", map[string]string{
		"App":  "Shop",
		"New":  "<new@example.net>",
		"Undo": "https://shop.example/email/undo?t=q2V6",
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Kind)
	fmt.Println(m.Subject)
	fmt.Print(m.Text)
	fmt.Println(m.HTML)

	_, err = changed.Message("email_changed:req-7f3b:user-42", "old@example.com", map[string]string{
		"App": "Shop\nBcc: eve@example.net", "New": "x", "Undo": "y",
	})
	fmt.Println(err != nil)
	// Output:
	// email_changed
	// Shop: your e-mail address was changed
	// Your address was changed to <new@example.net>.
	// Not you? Undo it: https://shop.example/email/undo?t=q2V6
	// <p>Your address was changed to <b>&lt;new@example.net&gt;</b>.</p><p><a href="https://shop.example/email/undo?t=q2V6">Not you? Undo it.</a></p>
	// true
}
