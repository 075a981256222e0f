// Package uilocale gives the GUI toolkit a locale it can read, before the
// toolkit first reads it.
//
// Fyne's lang package reads the locale from the environment in its init,
// which runs in every program that links Fyne, whether or not a window
// ever opens. Under the C or POSIX locale with a codeset, as LANG=C.UTF-8
// (the default of many containers and servers), it takes "C" for a
// language, cannot parse it, and logs "Fyne error: Error parsing user
// locale C" on standard error, before main runs: `wicket status` and even
// `wicket --version` printed it. The window's own later reads log it
// again.
//
// The C and POSIX locales speak English. Where one of them is the locale
// for messages and LANGUAGE is not set, this package's init sets
// LANGUAGE=en, which Fyne reads first. Programs the client starts print
// English either way: LANGUAGE only picks message catalogs, and under
// the C locale there are none to pick.
//
// The init runs before Fyne's because of the order the Go specification
// gives package initialisation: in each step the first package by import
// path whose imports are all initialised goes next. This package imports
// only os and strings, which golang.org/x/text/language needs too, and its
// path sorts before that package, which Fyne's lang package needs: so it
// is initialised before either. The test of the built wicket binary
// (client/nofyne_test.go) checks that the command line prints nothing of
// Fyne's.
package uilocale

import (
	"os"
	"strings"
)

func init() { apply(os.Getenv, os.Setenv) }

// apply sets LANGUAGE=en when the locale for messages is C or POSIX with a
// codeset or modifier, and LANGUAGE is unset.
func apply(getenv func(string) string, setenv func(string, string) error) {
	if getenv("LANGUAGE") != "" {
		return
	}
	if needsLanguage(messagesLocale(getenv)) {
		setenv("LANGUAGE", "en")
	}
}

// messagesLocale is the locale that decides the language of messages, as
// POSIX orders the variables.
func messagesLocale(getenv func(string) string) string {
	for _, v := range []string{"LC_ALL", "LC_MESSAGES", "LANG"} {
		if l := getenv(v); l != "" {
			return l
		}
	}
	return ""
}

// needsLanguage reports whether a locale is C or POSIX spelled in a way
// that Fyne's locale library does not recognise as such ("C.UTF-8",
// "POSIX@euro"); plain "C" and "POSIX" it handles.
func needsLanguage(locale string) bool {
	lang, _, _ := strings.Cut(locale, ".")
	lang, _, _ = strings.Cut(lang, "@")
	return lang != locale && (lang == "C" || lang == "POSIX")
}
