package ui

import (
	"context"
	"fmt"
	"net/url"
	"slices"

	"fyne.io/fyne/v2"
	"fyne.io/fyne/v2/container"
	"fyne.io/fyne/v2/dialog"
	"fyne.io/fyne/v2/layout"
	"fyne.io/fyne/v2/theme"
	"fyne.io/fyne/v2/widget"

	"github.com/wicket-vpn/wicket/client/internal/core"
)

// codeLen is how many digits an MFA code has (TOTP and email alike).
const codeLen = 6

// mfaModal is the second-factor prompt of one location. It follows the
// location's state in core: the method picker while AwaitingMethod, the
// code entry while AwaitingCode, a progress bar while Connecting; it closes
// on any other state.
type mfaModal struct {
	v        *View
	instance string
	location string
	name     string

	step        core.State // the step on screen
	buttonCount int        // how many buttons the step shows (email has Resend)
	busy        bool       // a core call is in flight
	// dismissed is an error the user has already reacted to (by picking
	// another method), so it is not shown again until a new attempt.
	dismissed string
	lastErr   string
	// clearedFor is the error the code entry was last cleared for.
	clearedFor string

	dlg   *dialog.CustomDialog
	intro *widget.Label
	err   *widget.Label
	info  *widget.Label
	steps *fyne.Container

	methodStep fyne.CanvasObject
	question   *widget.Label
	methods    *widget.RadioGroup
	// noMethod says what to set up when the location accepts none of the
	// account's methods; offered is whether any is offered.
	noMethod *widget.Label
	offered  bool

	codeStep  fyne.CanvasObject
	codeIntro *widget.Label
	code      *codeEntry
	expires   *widget.Label

	connectingStep fyne.CanvasObject

	passkeyStep  fyne.CanvasObject
	passkeyIntro *widget.Label
	passkeyURL   *widget.Hyperlink
	openBtn      *widget.Button

	cancelBtn, continueBtn, resendBtn, verifyBtn *widget.Button
	methodButtons, codeButtons, emailButtons     []fyne.CanvasObject
	passkeyButtons                               []fyne.CanvasObject
	buttons                                      []fyne.CanvasObject // the row on screen
	connectingButtons                            []fyne.CanvasObject
}

func newMFAModal(v *View, l core.LocationView) *mfaModal {
	m := &mfaModal{v: v, instance: l.InstanceID, location: l.ID, name: l.Name, step: -1}

	m.intro = widget.NewLabel("")
	m.intro.Wrapping = fyne.TextWrapWord
	m.err = errorLabel()
	m.info = widget.NewLabel("")
	m.info.Wrapping = fyne.TextWrapWord
	m.info.Importance = widget.SuccessImportance
	m.info.Hide()

	m.methods = widget.NewRadioGroup(nil, func(string) {
		// Picking another method answers the error shown for the last one.
		if m.err.Visible() {
			m.dismissed = m.lastErr
			setMessage(m.err, "")
		}
	})
	m.methods.Required = true
	m.question = widget.NewLabelWithStyle("How do you want to confirm it's you?", fyne.TextAlignLeading, fyne.TextStyle{Bold: true})
	m.noMethod = widget.NewLabel("")
	m.noMethod.Wrapping = fyne.TextWrapWord
	m.noMethod.Importance = widget.WarningImportance
	m.noMethod.Hide()
	m.methodStep = container.NewVBox(
		m.question,
		container.New(layout.NewCustomPaddedLayout(0, 0, theme.Padding()*2, 0), m.methods),
		m.noMethod,
	)

	m.codeIntro = widget.NewLabel("")
	m.codeIntro.Wrapping = fyne.TextWrapWord
	m.code = newCodeEntry()
	m.code.OnChanged = func(s string) {
		m.updateVerify()
		if len(s) == codeLen && !m.busy {
			m.submit() // the sixth digit submits; no extra click needed
		}
	}
	m.code.OnSubmitted = func(s string) {
		if len(s) == codeLen && !m.busy {
			m.submit()
		}
	}
	m.expires = caption("")
	m.codeStep = container.NewVBox(m.codeIntro, container.NewCenter(m.code), container.NewCenter(m.expires))

	progress := widget.NewProgressBarInfinite()
	m.connectingStep = container.NewVBox(
		widget.NewLabel("Code accepted. Bringing the tunnel up…"), progress)

	m.passkeyIntro = widget.NewLabel("")
	m.passkeyIntro.Wrapping = fyne.TextWrapWord
	m.passkeyURL = widget.NewHyperlink("", nil)
	m.passkeyURL.Wrapping = fyne.TextWrapBreak
	m.passkeyStep = container.NewVBox(
		widget.NewLabelWithStyle("Waiting for your passkey in the browser…", fyne.TextAlignLeading, fyne.TextStyle{Bold: true}),
		widget.NewProgressBarInfinite(), m.passkeyIntro, m.passkeyURL)

	m.steps = container.NewStack(m.methodStep, m.codeStep, m.connectingStep, m.passkeyStep)

	m.cancelBtn = widget.NewButton("Cancel", m.cancelPrompt)
	m.continueBtn = widget.NewButtonWithIcon("Continue", theme.NavigateNextIcon(), m.choose)
	m.continueBtn.Importance = widget.HighImportance
	m.continueBtn.IconPlacement = widget.ButtonIconTrailingText
	m.resendBtn = widget.NewButtonWithIcon("Resend code", theme.MailSendIcon(), m.resend)
	m.verifyBtn = widget.NewButtonWithIcon("Verify", theme.ConfirmIcon(), m.submit)
	m.verifyBtn.Importance = widget.HighImportance
	m.methodButtons = []fyne.CanvasObject{m.cancelBtn, m.continueBtn}
	m.codeButtons = []fyne.CanvasObject{m.cancelBtn, m.verifyBtn}
	m.emailButtons = []fyne.CanvasObject{m.cancelBtn, m.resendBtn, m.verifyBtn}
	m.connectingButtons = []fyne.CanvasObject{m.cancelBtn}
	m.openBtn = widget.NewButtonWithIcon("Open the page again", theme.ComputerIcon(), m.openAgain)
	m.passkeyButtons = []fyne.CanvasObject{m.cancelBtn, m.openBtn}

	content := container.NewVBox(widthHint(440), m.intro, m.steps, m.err, m.info)
	m.dlg = dialog.NewCustomWithoutButtons("Sign in to "+l.Name, content, v.win)
	m.dlg.SetOnClosed(func() { v.mfaClosed(m) })

	m.offer(l)
	m.preselect(l)
	m.update(l)
	return m
}

// offer shows the methods the location accepts that the account has set
// up; with none, it says which to set up in the profile instead.
func (m *mfaModal) offer(l core.LocationView) {
	inst, _ := m.v.instance(m.instance)
	methods, problem := core.OfferedMethods(inst, l)
	labels := make([]string, len(methods))
	for i, o := range methods {
		labels[i] = o.Label()
	}
	if !slices.Equal(labels, m.methods.Options) {
		m.methods.Options = labels
		if !slices.Contains(labels, m.methods.Selected) {
			// Set directly: SetSelected would count as the user's answer
			// to the error on screen.
			m.methods.Selected = ""
			if len(labels) > 0 {
				m.methods.Selected = labels[0]
			}
		}
		m.methods.Refresh()
	}
	m.offered = len(methods) > 0
	showIf(m.question, m.offered)
	showIf(m.methods, m.offered)
	setMessage(m.noMethod, problem)
}

// is reports whether the modal belongs to l.
func (m *mfaModal) is(l core.LocationView) bool {
	return l.InstanceID == m.instance && l.ID == m.location
}

func (m *mfaModal) show() { m.dlg.Show() }

// hide closes the modal; mfaClosed runs from the dialog's callback.
func (m *mfaModal) hide() { m.dlg.Hide() }

// preselect ticks the method the user chose last time at this location
// (core remembers it) when it is offered; offer ticked the first otherwise.
func (m *mfaModal) preselect(l core.LocationView) {
	if l.Method != "" && slices.Contains(m.methods.Options, l.Method.Label()) {
		m.methods.SetSelected(l.Method.Label())
	}
}

// update renders the location's state.
func (m *mfaModal) update(l core.LocationView) {
	m.lastErr = l.Error
	errText := l.Error
	if errText == m.dismissed {
		errText = ""
	}

	switch l.State {
	case core.AwaitingMethod:
		m.offer(l) // the account's methods or the location's may have changed
		m.showStep(core.AwaitingMethod, m.methodStep, m.methodButtons)
		setText(m.intro, l.Name+" asks for a second factor on every connection.")
	case core.AwaitingCode:
		if l.Method == core.MethodPasskey {
			m.showPasskey(l)
			break
		}
		entering := m.step != core.AwaitingCode
		buttons := m.codeButtons
		if l.Method == core.MethodEmail {
			buttons = m.emailButtons
		}
		m.showStep(core.AwaitingCode, m.codeStep, buttons)
		setText(m.intro, "")
		m.intro.Hide()
		setText(m.codeIntro, codeIntro(l))
		exp := ""
		if !l.CodeExpires.IsZero() {
			exp = "This sign-in is valid until " + l.CodeExpires.Local().Format("15:04") + "."
		}
		setText(m.expires, exp)
		if entering || (errText != "" && errText != m.clearedFor && !m.busy) {
			// A wrong code is cleared so the next one can be typed at once
			// (once per answer: the call's result and core's event both
			// arrive here).
			m.clearedFor = errText
			m.code.SetText("")
		}
		if !m.busy {
			m.code.Enable()
			m.v.win.Canvas().Focus(m.code)
		}
	case core.Connecting:
		m.showStep(core.Connecting, m.connectingStep, m.connectingButtons)
		m.intro.Hide()
		errText = ""
		setMessage(m.info, "")
	}
	setMessage(m.err, errText)
	m.updateButtons()
}

// showPasskey is the wait for the browser's passkey confirmation; core
// opened the page and waits by itself, so the modal only offers to open it
// again and Cancel.
func (m *mfaModal) showPasskey(l core.LocationView) {
	// A step of its own: AwaitingCode's code entry is not on screen.
	m.showStep(passkeyStep, m.passkeyStep, m.passkeyButtons)
	m.intro.Hide()
	setText(m.passkeyIntro, fmt.Sprintf("Confirm connecting to %s with Touch ID, Windows Hello, your phone or a security key on the page Wicket opened. No page? Open this address:", l.Name))
	if u, err := url.Parse(l.BrowserURL); err == nil && (m.passkeyURL.URL == nil || m.passkeyURL.URL.String() != u.String()) {
		m.passkeyURL.SetURL(u)
		m.passkeyURL.SetText(l.BrowserURL)
	}
}

// passkeyStep marks the passkey wait among the steps on screen (a state
// core does not have: it is AwaitingCode there).
const passkeyStep core.State = -2

// openAgain opens the passkey page once more.
func (m *mfaModal) openAgain() {
	if m.passkeyURL.URL == nil {
		return
	}
	if err := m.v.app.OpenURL(m.passkeyURL.URL); err != nil {
		setMessage(m.err, "The browser did not open ("+err.Error()+"). Open the address above yourself.")
	}
}

// showStep puts one step on screen with its buttons.
func (m *mfaModal) showStep(step core.State, obj fyne.CanvasObject, buttons []fyne.CanvasObject) {
	if m.step == step && len(buttons) == m.buttonCount {
		return
	}
	m.step = step
	m.buttonCount = len(buttons)
	m.buttons = buttons
	for _, o := range m.steps.Objects {
		showIf(o, o == obj)
	}
	m.intro.Show()
	setMessage(m.info, "")
	m.dlg.SetButtons(buttons)
	m.steps.Refresh()
}

// offers reports whether the button row on screen has b.
func (m *mfaModal) offers(b *widget.Button) bool {
	for _, o := range m.buttons {
		if o == b {
			return true
		}
	}
	return false
}

// updateButtons enables what may be pressed now.
func (m *mfaModal) updateButtons() {
	enable := func(b fyne.Disableable, on bool) {
		if on {
			b.Enable()
		} else {
			b.Disable()
		}
	}
	enable(m.continueBtn, !m.busy && m.offered)
	enable(m.resendBtn, !m.busy)
	enable(m.methods, !m.busy)
	m.updateVerify()
	if m.busy {
		m.code.Disable()
	}
}

// updateVerify enables Verify once six digits are typed.
func (m *mfaModal) updateVerify() {
	if len(m.code.Text) == codeLen && !m.busy {
		m.verifyBtn.Enable()
	} else {
		m.verifyBtn.Disable()
	}
}

// codeIntro tells the user where the code comes from.
func codeIntro(l core.LocationView) string {
	if l.Method == core.MethodEmail {
		to := l.SentTo
		if to == "" {
			to = "your email address"
		}
		return fmt.Sprintf("We sent a 6-digit code to %s. Enter it to connect to %s.", to, l.Name)
	}
	return fmt.Sprintf("Open your authenticator app and enter the 6-digit code it shows for Wicket to connect to %s.", l.Name)
}

// call runs a core call with the modal busy. The outcome is rendered from
// core's events, which keep their order; the call's own return only ends
// the busy state (and fills in an error core had no words for), so a
// result can never overtake an event still on its way.
func (m *mfaModal) call(f func(ctx context.Context) error, after func(err error)) {
	m.busy = true
	m.dismissed = ""
	m.lastErr = "" // answered; the call's events bring the next one
	m.updateButtons()
	m.v.goCore(f, func(err error) {
		m.busy = false
		if m.v.mfa != m {
			return
		}
		m.updateButtons()
		if m.step == core.AwaitingCode {
			if m.lastErr != "" && m.lastErr != m.clearedFor {
				// The event with the error came while busy: clear the
				// wrong code now, as update would have.
				m.clearedFor = m.lastErr
				m.code.SetText("")
			}
			m.code.Enable()
			m.v.win.Canvas().Focus(m.code)
		}
		if after != nil {
			after(err)
		}
		if err != nil && m.lastErr == "" && (m.step == core.AwaitingMethod || m.step == core.AwaitingCode) {
			setMessage(m.err, err.Error()) // core had no words of its own (yet)
			if m.step == core.AwaitingCode && err.Error() != m.clearedFor {
				// The answer came before core's event: clear the wrong
				// code now, once, so the next one can be typed.
				m.clearedFor = err.Error()
				m.code.SetText("")
			}
		}
	})
}

// choose starts a challenge with the picked method.
func (m *mfaModal) choose() {
	method, ok := methodFromLabel(m.methods.Selected)
	if !ok {
		setMessage(m.err, "Choose how you want to confirm it's you.")
		return
	}
	setMessage(m.err, "")
	m.call(func(ctx context.Context) error {
		return m.v.core.ChooseMethod(ctx, m.instance, m.location, method)
	}, nil)
}

// submit sends the typed code.
func (m *mfaModal) submit() {
	code := m.code.Text
	if len(code) != codeLen || m.busy {
		return
	}
	setMessage(m.err, "")
	setMessage(m.info, "")
	m.clearedFor = ""
	m.call(func(ctx context.Context) error {
		return m.v.core.SubmitCode(ctx, m.instance, m.location, code)
	}, nil)
}

// resend asks for a new email code; the server may refuse while its
// throttle lasts, and its message says how long to wait.
func (m *mfaModal) resend() {
	setMessage(m.err, "")
	setMessage(m.info, "")
	m.call(func(ctx context.Context) error {
		return m.v.core.Resend(ctx, m.instance, m.location)
	}, func(err error) {
		if err == nil {
			l, _ := m.v.core.Location(m.instance, m.location)
			to := l.SentTo
			if to == "" {
				to = "your email address"
			}
			setMessage(m.info, "A new code is on its way to "+to+".")
		}
	})
}

// cancelPrompt gives up this connection attempt.
func (m *mfaModal) cancelPrompt() {
	if m.step == core.Connecting {
		// The session is authorised already: ending it properly tells the
		// server, so the peer leaves the gateway at once.
		m.v.goCore(func(ctx context.Context) error {
			return m.v.core.Disconnect(ctx, m.instance, m.location)
		}, nil)
	} else {
		m.v.core.Cancel(m.instance, m.location)
	}
	m.hide()
}
