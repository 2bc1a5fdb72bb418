package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// configFile is hookctl's config.json in Factory.ConfigPath():
//
//	{"relay": "https://relay.example", "token": "...", "endpoints": {"https://relay.example": "brave-otter-42", "embedded": "..."}}
//
// Keys hookctl does not know are kept when it writes the file back.
type configFile struct {
	path string
	raw  map[string]json.RawMessage

	Relay     string
	Token     string
	Endpoints map[string]string // relay URL or "embedded" → endpoint name
}

// embeddedKey names the in-process relay in the endpoints map.
const embeddedKey = "embedded"

func loadConfig(f *Factory) (*configFile, error) {
	dir, err := f.ConfigPath()
	if err != nil {
		return nil, fmt.Errorf("find config directory: %w", err)
	}
	c := &configFile{path: filepath.Join(dir, "config.json"), raw: map[string]json.RawMessage{}, Endpoints: map[string]string{}}
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	if err := json.Unmarshal(b, &c.raw); err != nil {
		return nil, fmt.Errorf("config %s: %w", c.path, err)
	}
	for key, dst := range map[string]any{"relay": &c.Relay, "token": &c.Token, "endpoints": &c.Endpoints} {
		if v, ok := c.raw[key]; ok {
			if err := json.Unmarshal(v, dst); err != nil {
				return nil, fmt.Errorf("config %s: %q: %w", c.path, key, err)
			}
		}
	}
	if c.Endpoints == nil {
		c.Endpoints = map[string]string{}
	}
	return c, nil
}

// save writes the file atomically, readable only by the user (it may hold a
// token).
func (c *configFile) save() error {
	set := func(key string, v any, empty bool) {
		if empty {
			delete(c.raw, key)
			return
		}
		b, _ := json.Marshal(v)
		c.raw[key] = b
	}
	set("relay", c.Relay, c.Relay == "")
	set("token", c.Token, c.Token == "")
	set("endpoints", c.Endpoints, len(c.Endpoints) == 0)
	b, err := json.MarshalIndent(c.raw, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".config-*.json")
	if err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	if err := os.Rename(tmp.Name(), c.path); err != nil {
		return fmt.Errorf("save config: %w", err)
	}
	return nil
}

// relayFlags are --relay and --token, shared by every command that talks to
// a relay.
type relayFlags struct {
	Relay string
	Token string
}

func (r *relayFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&r.Relay, "relay", "", "relay URL (env HOOKCTL_RELAY, config \"relay\"); none: the embedded relay")
	cmd.Flags().StringVar(&r.Token, "token", "", "relay token (env HOOKCTL_TOKEN, config \"token\")")
}

// relayTarget is the resolved relay: a URL and token, or the embedded relay.
type relayTarget struct {
	URL      string // empty when Embedded
	Token    string
	Embedded bool
	Config   *configFile
}

// key names the relay in the config's endpoints map.
func (t relayTarget) key() string {
	if t.Embedded {
		return embeddedKey
	}
	return t.URL
}

// resolveRelay applies the one precedence rule for --relay and --token:
// flag, then environment, then config file. No relay anywhere means the
// embedded one.
func resolveRelay(f *Factory, fl relayFlags) (relayTarget, error) {
	cfg, err := loadConfig(f)
	if err != nil {
		return relayTarget{}, err
	}
	first := func(vals ...string) string {
		for _, v := range vals {
			if v = strings.TrimSpace(v); v != "" {
				return v
			}
		}
		return ""
	}
	t := relayTarget{
		URL:    strings.TrimSuffix(first(fl.Relay, f.Getenv("HOOKCTL_RELAY"), cfg.Relay), "/"),
		Token:  first(fl.Token, f.Getenv("HOOKCTL_TOKEN"), cfg.Token),
		Config: cfg,
	}
	t.Embedded = t.URL == ""
	if !t.Embedded && !strings.HasPrefix(t.URL, "http://") && !strings.HasPrefix(t.URL, "https://") {
		return relayTarget{}, &FlagError{Err: fmt.Errorf("relay URL %q must start with http:// or https://", t.URL)}
	}
	return t, nil
}
