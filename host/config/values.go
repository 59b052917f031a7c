package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/agext/levenshtein"
)

// Value grammars shared by the decoder. Each parser returns an error whose
// text is safe to show next to the value's range; none quotes the value.

// Enumerations, in the order error messages list them.
var (
	conflictPolicies = []string{"server_wins", "device_wins", "device_wins_full", "last_write_wins", "user_decides", "merge"}
	tieBreakPolicies = []string{"server_wins", "device_wins", "device_wins_full", "last_write_wins", "user_decides"}
	fieldOwners      = []string{"server", "device"}
	fileModes        = []string{"on_demand", "eager"}
	roles            = []string{"user", "admin"}
	logFormats       = []string{"human", "json"}
	logLevels        = []string{"trace", "debug", "info", "warn", "error", "off"}
)

var (
	// Source and user names appear in URL paths and partition keys.
	sourceNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*$`)
	// Plugin names are file names in plugin_dir.
	pluginNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	// Partition attribute names are identity attribute keys.
	identRE  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	sha256RE = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
	bcryptRE = regexp.MustCompile(`^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$`)
	// libpq keyword/value DSN: starts with a known keyword.
	pgKeywordDSNRE = regexp.MustCompile(`^\s*(host|hostaddr|port|dbname|user|password|sslmode|service|connect_timeout|application_name)\s*=`)
)

// validEntityName accepts back-end entity names (Salesforce "Custom__c",
// folder names with spaces) but not what would break partition keys.
func validEntityName(s string) bool {
	if s == "" || strings.TrimSpace(s) != s {
		return false
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '/' || r == '=' {
			return false
		}
	}
	return true
}

func validUserName(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == 0x7f {
			return false
		}
	}
	return true
}

// parseDuration accepts Go durations ("90s", "1h30m") and whole days,
// alone or in front of a Go duration ("30d", "1d12h"). "0" is zero.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New("the duration is empty")
	}
	if strings.HasPrefix(s, "-") {
		return 0, errors.New("a duration cannot be negative")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i >= 0 {
		n, err := strconv.ParseUint(s[:i], 10, 32)
		if err != nil || n > math.MaxInt64/uint64(24*time.Hour) {
			return 0, errors.New(`days must be a whole number, as in "30d" or "1d12h"`)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return days, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if _, numErr := strconv.ParseFloat(s, 64); numErr == nil {
			return 0, errors.New(`the duration needs a unit, as in "90s", "5m", "8h" or "30d"`)
		}
		return 0, errors.New(`write a duration such as "90s", "5m", "1h30m", "8h" or "30d"`)
	}
	if d > math.MaxInt64-days {
		return 0, errors.New("the duration is too long")
	}
	return days + d, nil
}

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"kb": 1000, "mb": 1000 * 1000, "gb": 1000 * 1000 * 1000, "tb": 1000 * 1000 * 1000 * 1000,
	"kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30, "tib": 1 << 40,
}

// parseSize accepts a byte count ("10485760") or a number with a unit
// (B, KB, MB, GB, TB in powers of 1000; KiB, MiB, GiB, TiB in powers of
// 1024; case-insensitive).
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		if strings.HasPrefix(s, "-") {
			return 0, errors.New("a size cannot be negative")
		}
		return 0, errors.New(`write a size in bytes, or with a unit such as "512KiB", "10MiB", "10MB" or "1GiB"`)
	}
	f, _, err := big.ParseFloat(num, 10, 128, big.ToZero)
	if err != nil {
		return 0, errors.New(`write a size in bytes, or with a unit such as "512KiB", "10MiB", "10MB" or "1GiB"`)
	}
	f.Mul(f, new(big.Float).SetInt64(mult))
	n, acc := f.Int64()
	if acc == big.Above || f.Cmp(new(big.Float).SetInt64(math.MaxInt64)) > 0 {
		return 0, errors.New("the size is too large")
	}
	return n, nil
}

// parsePartition parses "*", "owner:<field>" or "<attr>:<field>".
func parsePartition(s string) (PartitionRule, error) {
	if s == "*" {
		return PartitionRule{All: true, Raw: s}, nil
	}
	attr, field, ok := strings.Cut(s, ":")
	if !ok || !identRE.MatchString(attr) || field == "" || strings.TrimSpace(field) != field || strings.ContainsAny(field, "/= \t") {
		return PartitionRule{}, errors.New(`write "*" (every user sees every record), "owner:<field>" (the field holds the user's id on this source) or "<attribute>:<field>" (the field equals the user's identity attribute)`)
	}
	return PartitionRule{Attr: attr, Field: field, Raw: s}, nil
}

// parseDatabase normalizes the database setting; see Hub.Database.
func parseDatabase(s, dataDir, baseDir string) (string, error) {
	switch {
	case s == "sqlite":
		return "sqlite:" + resolvePath(dataDir, "synchub.db"), nil
	case strings.HasPrefix(s, "sqlite:"):
		p := strings.TrimPrefix(s, "sqlite:")
		switch {
		case p == "":
			return "", errors.New(`"sqlite:" needs a file path, as in "sqlite:/var/lib/synchub/synchub.db"; write "sqlite" for <data_dir>/synchub.db`)
		case p == ":memory:":
			return s, nil
		}
		return "sqlite:" + resolvePath(baseDir, p), nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return s, nil
	case pgKeywordDSNRE.MatchString(s):
		return s, nil
	}
	return "", errors.New(`write "sqlite", "sqlite:<file path>", a PostgreSQL URL "postgres://user@host/db" or a keyword DSN "host=... dbname=..."`)
}

// checkListen accepts host:port with a numeric port; an empty host listens
// on every interface.
func checkListen(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New(`write host:port, as in "127.0.0.1:8080" or ":8080"`)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || port == "" || n > math.MaxUint16 {
		return errors.New("the port must be a number from 0 to 65535")
	}
	return nil
}

// oneOf renders an enumeration as the end of a message, punctuation
// included, with a suggestion when the given value is a near miss.
func oneOf(given string, allowed []string) string {
	msg := "it must be one of " + strings.Join(allowed, ", ") + "."
	if s := suggest(given, allowed); given != "" && s != "" {
		msg += fmt.Sprintf(" Did you mean %q?", s)
	}
	return msg
}

func suggest(given string, candidates []string) string {
	best, bestDist := "", 3
	for _, c := range candidates {
		if d := levenshtein.Distance(strings.ToLower(given), c, nil); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}
