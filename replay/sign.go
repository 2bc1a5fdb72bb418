package replay

import (
	"errors"
	"strings"
	"time"

	"github.com/hookctl/hookctl/fixtures"
	"github.com/hookctl/hookctl/tunnel/capture"
)

// ProviderSigner re-signs and verifies with a fixtures provider's scheme and
// a secret. It satisfies Signer and Verifier.
type ProviderSigner struct {
	Provider *fixtures.Provider
	Secret   string
	// URL is the URL the provider signs, for URL-signed schemes (Twilio,
	// Square, HubSpot). Empty: the URL the event was originally sent to.
	URL string
}

// NewProviderSigner looks the provider up in the catalog.
func NewProviderSigner(provider, secret string) (*ProviderSigner, error) {
	if secret == "" {
		return nil, errors.New("re-signing needs the signing secret: pass --secret")
	}
	p, err := fixtures.LookupProvider(provider)
	if err != nil {
		return nil, err
	}
	return &ProviderSigner{Provider: p, Secret: secret}, nil
}

func (s *ProviderSigner) params(r *capture.Request, now time.Time) fixtures.Params {
	u := s.URL
	if u == "" && r.Host != "" && s.Provider.Scheme.Info().URLSigned {
		u = strings.TrimSuffix(OriginalURL(r).String(), "/") + r.URI()
	}
	return fixtures.Params{Secret: s.Secret, Time: now, URL: u}
}

// Sign replaces r's signature with a fresh one timestamped now.
func (s *ProviderSigner) Sign(r *capture.Request, now time.Time) error {
	return s.Provider.Resign(r, s.params(r, now))
}

// Verify checks r's signature at now; the error explains a failure.
func (s *ProviderSigner) Verify(r *capture.Request, now time.Time) error {
	res := s.Check(r, now)
	if res.Valid {
		return nil
	}
	return errors.New(strings.TrimSpace(res.Explain()))
}

// Check returns the provider's full verdict, with every fault found.
func (s *ProviderSigner) Check(r *capture.Request, now time.Time) *fixtures.Result {
	return s.Provider.Verify(r, s.params(r, now))
}

// CheckKnown is Check with what else the caller knows (fixtures.Known).
func (s *ProviderSigner) CheckKnown(r *capture.Request, now time.Time, k fixtures.Known) *fixtures.Result {
	return s.Provider.Check(r, s.params(r, now), k)
}
