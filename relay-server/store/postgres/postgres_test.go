package postgres_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/hookctl/hookctl/relay-server/store"
	"github.com/hookctl/hookctl/relay-server/store/pgtest"
	"github.com/hookctl/hookctl/relay-server/store/postgres"
	"github.com/hookctl/hookctl/relay-server/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// opener returns an open func for the contract suites: the first call for
// a test makes a fresh database, later calls of the same test open it
// again (a reopen, or another node).
func opener() func(t *testing.T) store.Store {
	var mu sync.Mutex
	urls := map[*testing.T]string{}
	return func(t *testing.T) store.Store {
		mu.Lock()
		url, ok := urls[t]
		if !ok {
			url = pgtest.URL(t)
			urls[t] = url
		}
		mu.Unlock()
		s, err := postgres.Open(context.Background(), url, postgres.Options{LeaseTTL: 3 * time.Second, Poll: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
}

func TestContract(t *testing.T) { storetest.Run(t, opener()) }

func TestCluster(t *testing.T) { storetest.RunCluster(t, opener()) }

// TestNodesMigrateAtOnce: nodes starting together on an empty database
// each apply the migrations or wait for the one that does.
func TestNodesMigrateAtOnce(t *testing.T) {
	url := pgtest.URL(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := postgres.Open(context.Background(), url, postgres.Options{})
			if err == nil {
				err = s.Close()
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
