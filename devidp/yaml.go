package devidp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v3"
)

// LoadDirectory reads a directory from a YAML file (format: docs/devidp.md)
// and validates it. A certificate may be given inline (pem) or as a file
// (pemFile, relative to the YAML file). Errors name the file and the field,
// e.g. "users[2].tenant".
func LoadDirectory(path string) (Directory, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Directory{}, fmt.Errorf("devidp: directory: %w", err)
	}
	d, err := ParseDirectory(b, filepath.Dir(path))
	if err != nil {
		return Directory{}, fmt.Errorf("%s: %w", path, err)
	}
	return d, nil
}

// ParseDirectory parses and validates a YAML directory; pemFile paths are
// relative to baseDir.
func ParseDirectory(b []byte, baseDir string) (Directory, error) {
	var d Directory
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true) // a misspelt field is an error, not a silent default
	if err := dec.Decode(&d); err != nil && !errors.Is(err, io.EOF) {
		return Directory{}, fmt.Errorf("devidp: directory: %w", err)
	}
	for i := range d.Apps {
		for j := range d.Apps[i].Certificates {
			c := &d.Apps[i].Certificates[j]
			if c.PEMFile == "" {
				continue
			}
			if c.PEM != "" {
				return Directory{}, fmt.Errorf("devidp: directory: apps[%d].certificates[%d]: give pem or pemFile, not both", i, j)
			}
			p := c.PEMFile
			if !filepath.IsAbs(p) {
				p = filepath.Join(baseDir, p)
			}
			pemBytes, err := os.ReadFile(p)
			if err != nil {
				return Directory{}, fmt.Errorf("devidp: directory: apps[%d].certificates[%d].pemFile: %w", i, j, err)
			}
			c.PEM, c.PEMFile = string(pemBytes), ""
		}
	}
	if _, err := compile(cloneDirectory(d)); err != nil {
		return Directory{}, err
	}
	return d, nil
}

// UnmarshalYAML lets a scope be written as its bare name.
func (s *Scope) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		s.Value = n.Value
		return nil
	}
	type plain Scope
	return n.Decode((*plain)(s))
}
