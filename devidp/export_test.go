package devidp

// ParseAssertion exposes the client-assertion parser to the fuzz test.
func ParseAssertion(s string) error {
	ca, err := parseAssertion(s)
	if err == nil && ca == nil {
		panic("parseAssertion returned neither an assertion nor an error")
	}
	return err
}
