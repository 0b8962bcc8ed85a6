// Command trivydb writes a Trivy vulnerability database from a small JSON
// description, with Trivy's own database packages (trivy-db, at the version
// the Trivy that scripts/trivy.sh builds requires), so that tests can run
// Trivy offline against advisories they choose.
//
//	go run . DIR < db.json
//
// writes DIR/trivy.db and DIR/metadata.json; DIR is the db folder under the
// --cache-dir that Trivy is then run with (--skip-db-update). db.json holds:
//
//	{
//	  "advisories": [{"source": "debian 12", "package": "zlib", "id": "CVE-...",
//	                  "advisory": {"FixedVersion": "1:1.2.13.dfsg-2"}}],
//	  "vulnerabilities": {"CVE-...": {"Title": "...", "Severity": "HIGH"}},
//	  "dataSources": {"debian 12": {"ID": "debian", "Name": "Debian Security Tracker"}}
//	}
//
// Sources are Trivy's bucket names: "debian 12" for Debian bookworm's
// packages (by source package name), "pip::NAME" for Python packages. An
// advisory without FixedVersion is unfixed; give its Status (2: affected).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/aquasecurity/trivy-db/pkg/db"
	"github.com/aquasecurity/trivy-db/pkg/metadata"
	"github.com/aquasecurity/trivy-db/pkg/types"
	bolt "go.etcd.io/bbolt"
)

type description struct {
	Advisories []struct {
		Source   string         `json:"source"`
		Package  string         `json:"package"`
		ID       string         `json:"id"`
		Advisory types.Advisory `json:"advisory"`
	} `json:"advisories"`
	Vulnerabilities map[string]types.Vulnerability `json:"vulnerabilities"`
	DataSources     map[string]types.DataSource    `json:"dataSources"`
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: trivydb DIR < db.json")
		os.Exit(2)
	}
	if err := write(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "trivydb: %v\n", err)
		os.Exit(1)
	}
}

func write(dir string) error {
	var d description
	dec := json.NewDecoder(os.Stdin)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return fmt.Errorf("read the description on stdin: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := db.Init(dir); err != nil {
		return err
	}
	var dbc db.Config
	err := dbc.BatchUpdate(func(tx *bolt.Tx) error {
		for _, a := range d.Advisories {
			if a.Source == "" || a.Package == "" || a.ID == "" {
				return fmt.Errorf("advisory %+v: source, package and id are needed", a)
			}
			// A pointer, so that the advisory's own MarshalJSON keeps its Status.
			if err := dbc.PutAdvisory(tx, []string{a.Source, a.Package}, a.ID, &a.Advisory); err != nil {
				return err
			}
		}
		for id, v := range d.Vulnerabilities {
			if err := dbc.PutVulnerability(tx, id, v); err != nil {
				return err
			}
		}
		for bucket, ds := range d.DataSources {
			if err := dbc.PutDataSource(tx, bucket, ds); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	now := time.Now().UTC()
	return metadata.NewClient(dir).Update(metadata.Metadata{
		Version:      db.SchemaVersion,
		NextUpdate:   now.Add(24 * time.Hour),
		UpdatedAt:    now,
		DownloadedAt: now,
	})
}
