// Package dsn reads what comes back after mail is sent: delivery status
// notifications (RFC 3464 multipart/report with message/delivery-status,
// and RFC 6533 message/global-delivery-status), the free-text bounces of
// MTAs that do not send them (qmail, Exim, older Sendmail, Exchange,
// Gmail, Yahoo, Amazon SES, mail.ru, Yandex, Courier, Domino, ...),
// auto-replies (RFC 3834) and ARF feedback reports (RFC 5965).
//
// Parse returns a Report: its Kind (bounce, delay, delivered, autoreply,
// feedback-report, or none) and one Recipient per address the report is
// about, each with the RFC 3463 status, the remote MTA, the diagnostic
// text, a Class and whether the address itself is dead (Hard).
//
// Classify gives the class of a reply line on its own (what explain uses):
//
//	class, hard := dsn.Classify("", "450 4.1.1 <bob@example.org>: Recipient address rejected: User unknown")
//	// class == "user-unknown", hard == true: the address is dead whatever the first digit
//
// Parse reads at most MaxBytes of its input; the rest is ignored, which
// only ever cuts the copy of the original message a bounce carries.
package dsn
