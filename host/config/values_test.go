package config

import (
	"testing"
	"time"
)

func TestParseDuration(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want time.Duration
		ok   bool
	}{
		{"go_durations_parse", "1h30m", 90 * time.Minute, true},
		{"zero_parses", "0", 0, true},
		{"days_parse", "30d", 30 * day, true},
		{"days_combine_with_a_go_duration", "1d12h", 36 * time.Hour, true},
		{"zero_days_parse", "0d", 0, true},
		{"fractional_days_are_refused", "1.5d", 0, false},
		{"a_bare_number_is_refused", "300", 0, false},
		{"negative_durations_are_refused", "-5m", 0, false},
		{"empty_is_refused", "", 0, false},
		{"a_lone_d_is_refused", "d", 0, false},
		{"days_that_overflow_are_refused", "999999999d", 0, false},
		{"words_are_refused", "five minutes", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDuration(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseDuration(%q): err %v, want ok=%v", tt.in, err, tt.ok)
			}
			equal(t, tt.in, got, tt.want)
		})
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want int64
		ok   bool
	}{
		{"bytes_parse", "10485760", 10485760, true},
		{"binary_units_parse", "10MiB", 10 << 20, true},
		{"decimal_units_parse", "10MB", 10_000_000, true},
		{"units_are_case_insensitive", "1gib", 1 << 30, true},
		{"a_space_before_the_unit_is_allowed", "512 KiB", 512 << 10, true},
		{"fractions_with_a_unit_parse", "1.5KiB", 1536, true},
		{"a_b_suffix_parses", "100B", 100, true},
		{"zero_parses", "0", 0, true},
		{"negative_sizes_are_refused", "-1", 0, false},
		{"unknown_units_are_refused", "10 megs", 0, false},
		{"a_unit_alone_is_refused", "MiB", 0, false},
		{"overflowing_sizes_are_refused", "9000000TiB", 0, false},
		{"two_dots_are_refused", "1.2.3", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseSize(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parseSize(%q): err %v, want ok=%v", tt.in, err, tt.ok)
			}
			equal(t, tt.in, got, tt.want)
		})
	}
}

func TestParsePartition(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want PartitionRule
		ok   bool
	}{
		{"a_star_is_everyone", "*", PartitionRule{All: true, Raw: "*"}, true},
		{"owner_compares_with_the_identity_id", "owner:_ownerid_value", PartitionRule{Attr: "owner", Field: "_ownerid_value", Raw: "owner:_ownerid_value"}, true},
		{"an_attribute_compares_with_the_identity_attribute", "business_unit:bu", PartitionRule{Attr: "business_unit", Field: "bu", Raw: "business_unit:bu"}, true},
		{"a_field_may_contain_a_colon", "owner:a:b", PartitionRule{Attr: "owner", Field: "a:b", Raw: "owner:a:b"}, true},
		{"a_bare_field_is_refused", "_ownerid_value", PartitionRule{}, false},
		{"an_empty_field_is_refused", "owner:", PartitionRule{}, false},
		{"an_empty_attribute_is_refused", ":field", PartitionRule{}, false},
		{"a_field_with_a_slash_is_refused", "owner:a/b", PartitionRule{}, false},
		{"empty_is_refused", "", PartitionRule{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parsePartition(tt.in)
			if (err == nil) != tt.ok {
				t.Fatalf("parsePartition(%q): err %v, want ok=%v", tt.in, err, tt.ok)
			}
			equal(t, tt.in, got, tt.want)
		})
	}
}
