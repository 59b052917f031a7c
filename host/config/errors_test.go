package config

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hashicorp/hcl/v2"
)

// testFile is the name errors are reported under.
var testFile = filepath.Join("conf", "test.hcl")

// entitySrc wraps lines in a valid source and entity; the first line of
// body is line 5.
func entitySrc(body string) string {
	return `source "crm" {
  plugin = "dynamicscrm"
  entity "account" {
    partition_by = "*"
` + body + `
  }
}
`
}

type errorCase struct {
	name string
	src  string
	// want are substrings of the rendered error; the first is the location.
	want []string
}

var errorCases = []errorCase{
	// Syntax and schema.
	{"a_syntax_error_names_the_line", "hub {\n  listen = \n}\n",
		[]string{"conf/test.hcl:2,", "Invalid expression"}},
	{"an_unknown_block_is_an_error_with_a_suggestion", "sourc \"crm\" {}\n",
		[]string{"conf/test.hcl:1,1-6", "Unsupported block type", `Did you mean "source"?`}},
	{"an_unknown_hub_attribute_is_an_error_with_a_suggestion", "hub {\n  listn = \"x\"\n}\n",
		[]string{"conf/test.hcl:2,3-8", "Unsupported argument", `Did you mean "listen"?`}},
	{"an_unknown_entity_attribute_is_an_error", entitySrc(`    colour = "red"`),
		[]string{"conf/test.hcl:5,5-11", "Unsupported argument", `"colour"`}},
	{"an_unknown_block_in_a_user_is_an_error", "user \"a\" {\n  password = \"x\"\n  identiy \"crm\" {}\n}\n",
		[]string{"conf/test.hcl:3,3-10", "Unsupported block type", `"identity"`}},
	{"a_source_without_a_label_is_an_error", "source {\n  plugin = \"x\"\n}\n",
		[]string{"conf/test.hcl:1,", "Missing name for source"}},
	{"two_hub_blocks_are_an_error", "hub {}\nhub {}\n",
		[]string{"conf/test.hcl:2,1-4", "Duplicate hub block", "conf/test.hcl:1,1-4"}},

	// Required attributes.
	{"a_source_without_a_plugin_is_an_error_naming_the_source", "source \"crm\" {\n}\n",
		[]string{"conf/test.hcl:1,1-13", "Missing plugin", `source "crm" needs plugin`}},
	{"an_empty_plugin_name_is_an_error", "source \"crm\" {\n  plugin = \"\"\n}\n",
		[]string{"conf/test.hcl:2,12-14", "Empty plugin name", `source "crm"`}},
	{"a_plugin_name_with_a_slash_is_an_error", "source \"crm\" {\n  plugin = \"../x\"\n}\n",
		[]string{"conf/test.hcl:2,12-18", "Invalid plugin name"}},
	{"an_entity_without_partition_by_is_an_error_naming_the_entity",
		"source \"crm\" {\n  plugin = \"p\"\n  entity \"account\" {\n    fields = [\"name\"]\n  }\n}\n",
		[]string{"conf/test.hcl:3,3-19", "Missing partition rule", `entity "account" of source "crm" needs partition_by`}},
	{"an_attribute_set_twice_is_an_error", entitySrc(`    partition_by = "*"`),
		[]string{"conf/test.hcl:5,5-17", "Attribute redefined"}},
	{"a_null_partition_by_counts_as_missing",
		"source \"crm\" {\n  plugin = \"p\"\n  entity \"account\" {\n    partition_by = null\n  }\n}\n",
		[]string{"conf/test.hcl:3,3-19", "Missing partition rule"}},
	{"a_user_without_a_password_is_an_error", "user \"alice\" {\n  role = \"user\"\n}\n",
		[]string{"conf/test.hcl:1,1-13", "Missing password", `user "alice"`}},
	{"an_identity_without_an_id_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" {}\n}\n",
		[]string{"conf/test.hcl:6,3-17", "Missing identity id", `user "a" on source "crm"`, `login = "<the user's e-mail or domain name>"`}},
	{"an_identity_with_both_id_and_login_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" {\n    id    = \"1\"\n    login = \"a@contoso.com\"\n  }\n}\n",
		[]string{"conf/test.hcl:8,5-10", "Conflicting identity", `user "a" on source "crm" has both id and login`}},
	{"an_empty_login_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" { login = \" \" }\n}\n",
		[]string{"conf/test.hcl:6,28-31", "Empty identity login", `user "a" on source "crm"`}},
	{"a_login_that_is_not_a_string_is_a_type_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" { login = [\"a\"] }\n}\n",
		[]string{"conf/test.hcl:6,28-33", "Wrong type"}},

	// Types.
	{"a_string_batch_size_is_a_type_error", "source \"crm\" {\n  plugin = \"p\"\n  batch_size = \"many\"\n}\n",
		[]string{"conf/test.hcl:3,16-22", "Wrong type", "batch_size must be a whole number"}},
	{"a_fractional_page_size_is_a_type_error", entitySrc(`    page_size = 10.5`),
		[]string{"conf/test.hcl:5,17-21", "Wrong type", "page_size must be a whole number"}},
	{"fields_as_a_string_is_a_type_error", entitySrc(`    fields = "name"`),
		[]string{"conf/test.hcl:5,14-20", "Wrong type", "fields must be a list of strings"}},
	{"a_string_source_config_is_a_type_error", "source \"crm\" {\n  plugin = \"p\"\n  config = \"url=x\"\n}\n",
		[]string{"conf/test.hcl:3,12-19", "Wrong type", "config must be an object"}},
	{"read_only_as_a_word_is_a_type_error", entitySrc(`    read_only = "yes"`),
		[]string{"conf/test.hcl:5,17-22", "Wrong type", "read_only must be true or false"}},
	{"a_variable_reference_is_an_error", "hub {\n  listen = addr\n}\n",
		[]string{"conf/test.hcl:2,12-16", "Variables not allowed"}},
	{"an_unknown_function_is_an_error", "hub {\n  listen = envv(\"X\")\n}\n",
		[]string{"conf/test.hcl:2,12-16", "Call to unknown function", "env"}},

	// Duplicates.
	{"a_duplicate_source_is_an_error_naming_the_first",
		"source \"crm\" {\n  plugin = \"p\"\n}\nsource \"crm\" {\n  plugin = \"p\"\n}\n",
		[]string{"conf/test.hcl:4,8-13", "Duplicate source", `"crm" is already defined at conf/test.hcl:1,1-13`}},
	{"a_duplicate_entity_is_an_error", "source \"crm\" {\n  plugin = \"p\"\n  entity \"a\" { partition_by = \"*\" }\n  entity \"a\" { partition_by = \"*\" }\n}\n",
		[]string{"conf/test.hcl:4,10-13", "Duplicate entity", `source "crm" already has an entity "a"`}},
	{"a_duplicate_user_is_an_error", "user \"a\" { password = \"x\" }\nuser \"a\" { password = \"y\" }\n",
		[]string{"conf/test.hcl:2,6-9", "Duplicate user"}},
	{"a_duplicate_plugin_is_an_error", "plugin \"p\" {}\nplugin \"p\" {}\n",
		[]string{"conf/test.hcl:2,8-11", "Duplicate plugin"}},
	{"a_duplicate_identity_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" { id = \"1\" }\n  identity \"crm\" { id = \"2\" }\n}\n",
		[]string{"conf/test.hcl:7,12-17", "Duplicate identity"}},
	{"a_duplicate_files_block_is_an_error", entitySrc("    files {}\n    files {}"),
		[]string{"conf/test.hcl:6,5-10", "Duplicate files block"}},
	{"a_duplicate_field_is_an_error", entitySrc(`    fields = ["name", "name"]`),
		[]string{"conf/test.hcl:5,23-29", "Duplicate field", `"name" twice`}},

	// Enumerations.
	{"an_invalid_conflict_policy_lists_the_valid_ones", entitySrc(`    conflict = "serverwins"`),
		[]string{"conf/test.hcl:5,16-28", `Invalid conflict policy; "serverwins" is not a valid conflict: it must be one of server_wins, device_wins, device_wins_full, last_write_wins, user_decides, merge. Did you mean "server_wins"?`}},
	{"merge_is_not_a_tie_break", entitySrc(`    tie_break = "merge"`),
		[]string{"conf/test.hcl:5,17-24", "Invalid tie_break policy", `"merge"`, "user_decides"}},
	{"an_invalid_field_owner_is_an_error", entitySrc(`    field_owner = { revenue = "finance" }`),
		[]string{"conf/test.hcl:5,31-40", "Invalid field owner", `"finance"`, `field "revenue"`, "server, device"}},
	{"an_invalid_files_mode_is_an_error", entitySrc(`    files { mode = "lazy" }`),
		[]string{"conf/test.hcl:5,20-26", "Invalid files mode", "on_demand, eager"}},
	{"an_invalid_role_is_an_error", "user \"a\" {\n  password = \"x\"\n  role = \"root\"\n}\n",
		[]string{"conf/test.hcl:3,10-16", "Invalid role", "user, admin"}},
	{"an_invalid_log_level_is_an_error", "hub {\n  log_level = \"verbose\"\n}\n",
		[]string{"conf/test.hcl:2,15-24", "Invalid log level", "trace, debug"}},
	{"an_invalid_log_format_is_an_error", "hub {\n  log_format = \"text\"\n}\n",
		[]string{"conf/test.hcl:2,16-22", "Invalid log format", "human, json"}},

	// Durations, sizes, numbers.
	{"a_duration_in_words_is_an_error", "source \"crm\" {\n  plugin = \"p\"\n  interval = \"5 minutes\"\n}\n",
		[]string{"conf/test.hcl:3,14-25", "Invalid duration", `"5 minutes" is not a valid interval`}},
	{"a_duration_without_a_unit_is_an_error", "hub {\n  call_timeout = 300\n}\n",
		[]string{"conf/test.hcl:2,18-21", "Invalid duration", "needs a unit"}},
	{"a_zero_token_ttl_is_an_error", "hub {\n  access_token_ttl = \"0\"\n}\n",
		[]string{"conf/test.hcl:2,22-25", "Invalid duration", "access_token_ttl must be longer than zero"}},
	{"a_negative_duration_is_an_error", "source \"crm\" {\n  plugin = \"p\"\n  max_staleness = \"-1m\"\n}\n",
		[]string{"conf/test.hcl:3,19-24", "Invalid duration", "negative"}},
	{"fractional_days_are_an_error", "hub {\n  refresh_token_ttl = \"1.5d\"\n}\n",
		[]string{"conf/test.hcl:2,23-29", "Invalid duration", "whole number"}},
	{"a_size_in_words_is_an_error", "hub {\n  max_body_bytes = \"10 megs\"\n}\n",
		[]string{"conf/test.hcl:2,20-29", "Invalid size", `"10 megs" is not a valid max_body_bytes`}},
	{"a_negative_quota_is_an_error", entitySrc(`    files { quota = "-1" }`),
		[]string{"conf/test.hcl:5,21-25", "Invalid size", "negative"}},
	{"a_zero_body_cap_is_an_error", "hub {\n  max_body_bytes = 0\n}\n",
		[]string{"conf/test.hcl:2,20-21", "Invalid size", "larger than zero"}},
	{"a_batch_size_of_zero_is_out_of_range", "source \"crm\" {\n  plugin = \"p\"\n  batch_size = 0\n}\n",
		[]string{"conf/test.hcl:3,16-17", "Value out of range", "batch_size must be from 1 to 1000"}},
	{"a_batch_size_above_1000_is_out_of_range", "source \"crm\" {\n  plugin = \"p\"\n  batch_size = 1001\n}\n",
		[]string{"conf/test.hcl:3,16-20", "Value out of range", "batch_size must be from 1 to 1000"}},
	{"a_page_size_above_5000_is_out_of_range", entitySrc(`    page_size = 5001`),
		[]string{"conf/test.hcl:5,17-21", "Value out of range", "page_size must be from 1 to 5000"}},
	{"a_zero_pull_concurrency_is_out_of_range", "hub {\n  pull_concurrency = 0\n}\n",
		[]string{"conf/test.hcl:2,22-23", "Value out of range", "pull_concurrency"}},

	// Formats.
	{"a_short_sha256_is_an_error", "plugin \"p\" {\n  sha256 = \"abc123\"\n}\n",
		[]string{"conf/test.hcl:2,12-20", "Invalid sha256", "64 hexadecimal digits", "got 6 characters"}},
	{"a_non_hex_sha256_is_an_error", "plugin \"p\" {\n  sha256 = \"" + strings.Repeat("g", 64) + "\"\n}\n",
		[]string{"conf/test.hcl:2,12-78", "Invalid sha256"}},
	{"an_invalid_partition_rule_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n  entity \"account\" {\n    partition_by = \"everyone\"\n  }\n}\n",
		[]string{"conf/test.hcl:4,20-30", "Invalid partition rule", `"everyone"`, `entity "account"`, `"owner:<field>"`}},
	{"a_partition_field_outside_the_projection_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n  entity \"account\" {\n    fields = [\"name\"]\n    partition_by = \"owner:_ownerid_value\"\n  }\n}\n",
		[]string{"conf/test.hcl:5,20-42", "Partition field not synced", `"_ownerid_value"`}},
	{"a_field_owner_outside_the_projection_is_an_error", entitySrc(`    fields = ["name"]` + "\n" + `    field_owner = { revenue = "server" }`),
		[]string{"conf/test.hcl:6,31-39", "Unknown field", `"revenue"`}},
	{"an_invalid_listen_address_is_an_error", "hub {\n  listen = \"8080\"\n}\n",
		[]string{"conf/test.hcl:2,12-18", "Invalid listen address", "host:port"}},
	{"an_invalid_database_is_an_error", "hub {\n  database = \"mysql://x\"\n}\n",
		[]string{"conf/test.hcl:2,14-25", "Invalid database", "postgres://"}},
	{"sqlite_without_a_path_is_an_error", "hub {\n  database = \"sqlite:\"\n}\n",
		[]string{"conf/test.hcl:2,14-23", "Invalid database", "needs a file path"}},
	{"an_invalid_bcrypt_hash_is_an_error", "user \"a\" {\n  password_hash = \"secret\"\n}\n",
		[]string{"conf/test.hcl:2,19-27", "Invalid password hash", "bcrypt"}},
	{"a_password_and_a_hash_together_are_an_error",
		"user \"a\" {\n  password_hash = \"$2a$10$GqySabaAL39fPiALCeSf0OyuwmJ/ZsWvsUhmyQMeI3tczXci2J4Yq\"\n  password = \"x\"\n}\n",
		[]string{"conf/test.hcl:3,3-11", "Conflicting passwords"}},
	{"a_short_checkpoint_key_is_an_error", "hub {\n  checkpoint_key = \"short\"\n}\n",
		[]string{"conf/test.hcl:2,20-27", "Checkpoint key too short", "at least 32"}},
	{"an_entity_name_with_a_slash_is_an_error", "source \"crm\" {\n  plugin = \"p\"\n  entity \"a/b\" { partition_by = \"*\" }\n}\n",
		[]string{"conf/test.hcl:3,10-15", "Invalid entity name"}},
	{"a_source_name_with_a_space_is_an_error", "source \"my crm\" {\n  plugin = \"p\"\n}\n",
		[]string{"conf/test.hcl:1,8-16", "Invalid source name"}},
	{"an_owner_identity_attribute_is_reserved",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crm\" {\n    id = \"1\"\n    attributes = { owner = \"2\" }\n  }\n}\n",
		[]string{"conf/test.hcl:8,28-31", "Reserved attribute"}},

	// References between blocks.
	{"an_identity_for_an_unknown_source_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nuser \"a\" {\n  password = \"x\"\n  identity \"crn\" { id = \"1\" }\n}\n",
		[]string{"conf/test.hcl:6,12-17", "Unknown source", `identity of user "a" names source "crn"`, `did you mean "crm"?`}},
	{"attach_to_an_unknown_source_is_an_error", "source \"docs\" {\n  plugin = \"dropbox\"\n  attach_to = \"erp\"\n}\n",
		[]string{"conf/test.hcl:3,15-20", "Unknown source", `attach_to names source "erp"`}},
	{"attach_to_itself_is_an_error", "source \"docs\" {\n  plugin = \"dropbox\"\n  attach_to = \"docs\"\n}\n",
		[]string{"conf/test.hcl:3,15-21", "Invalid attach_to", `"docs" cannot attach to itself`}},
	{"attach_to_an_attached_source_is_an_error",
		"source \"crm\" {\n  plugin = \"p\"\n}\nsource \"a\" {\n  plugin = \"dropbox\"\n  attach_to = \"crm\"\n}\nsource \"b\" {\n  plugin = \"dropbox\"\n  attach_to = \"a\"\n}\n",
		[]string{"conf/test.hcl:10,15-18", "Invalid attach_to", `which itself attaches to "crm"`}},
	{"a_parent_that_is_not_an_entity_is_an_error", entitySrc(`    parents = ["contact"]`),
		[]string{"conf/test.hcl:5,16-25", "Unknown parent entity", `parent "contact", which is not an entity of source "crm"`}},
	{"an_entity_that_is_its_own_parent_is_a_cycle", entitySrc(`    parents = ["account"]`),
		[]string{"conf/test.hcl:5,15-26", "Parent cycle", "account -> account"}},
	{"a_parent_cycle_is_an_error_naming_the_cycle",
		"source \"crm\" {\n  plugin = \"p\"\n" +
			"  entity \"a\" {\n    partition_by = \"*\"\n    parents = [\"c\"]\n  }\n" +
			"  entity \"b\" {\n    partition_by = \"*\"\n    parents = [\"a\"]\n  }\n" +
			"  entity \"c\" {\n    partition_by = \"*\"\n    parents = [\"b\"]\n  }\n}\n",
		[]string{"conf/test.hcl:5,15-20", "Parent cycle", `source "crm"`, "a -> c -> b -> a"}},

	// Functions.
	{"env_of_an_unset_variable_names_it", "hub {\n  checkpoint_key = env(\"SYNCHUB_TEST_SURELY_UNSET\")\n}\n",
		[]string{"conf/test.hcl:2,20-24", "SYNCHUB_TEST_SURELY_UNSET is not set"}},
	{"env_with_three_arguments_is_an_error", "hub {\n  listen = env(\"A\", \"b\", \"c\")\n}\n",
		[]string{"conf/test.hcl:2,", "at most one default"}},
	{"file_of_a_missing_file_names_the_path", "hub {\n  checkpoint_key = file(\"no/such/key.txt\")\n}\n",
		[]string{"conf/test.hcl:2,20-25", `file "no/such/key.txt"`, "no such file"}},
}

func TestErrors(t *testing.T) {
	for _, tt := range errorCases {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), testFile)
			if err == nil {
				t.Fatalf("no error for:\n%s", tt.src)
			}
			var de *DiagError
			if !errors.As(err, &de) {
				t.Fatalf("got %T, want *DiagError", err)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, filepath.ToSlash(w)) && !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			for _, line := range strings.Split(msg, "\n") {
				if !strings.HasPrefix(line, testFile+":") {
					t.Errorf("line does not start with file:line: %q", line)
				}
			}
		})
	}
}

func TestErrorsAreCollected(t *testing.T) {
	src := `hub {
  log_level = "loud"
}
source "crm" {
  plugin = "p"
  batch_size = 0
  entity "a" {
    conflict = "mine"
  }
}
user "u" {}
`
	_, err := Parse([]byte(src), testFile)
	if err == nil {
		t.Fatal("no error")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		"conf/test.hcl:2,15-21: Invalid log level",
		"conf/test.hcl:6,16-17: Value out of range",
		"conf/test.hcl:7,3-13: Missing partition rule",
		"conf/test.hcl:8,16-22: Invalid conflict policy",
		"conf/test.hcl:11,1-9: Missing password",
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], filepath.FromSlash(w[:strings.Index(w, ":")])+w[strings.Index(w, ":"):]) {
			t.Errorf("line %d: got %q, want prefix %q", i+1, lines[i], w)
		}
	}
}

func TestErrorAt(t *testing.T) {
	rng := hcl.Range{
		Filename: "configs/dev.hcl",
		Start:    hcl.Pos{Line: 12, Column: 5, Byte: 100},
		End:      hcl.Pos{Line: 12, Column: 9, Byte: 104},
	}
	t.Run("renders_like_load_errors", func(t *testing.T) {
		err := ErrorAt(rng, "Invalid filter", "unknown operator \"equals\"")
		equal(t, "message", err.Error(), `configs/dev.hcl:12,5-9: Invalid filter; unknown operator "equals"`)
		var de *DiagError
		if !errors.As(err, &de) || len(de.Diagnostics) != 1 || *de.Diagnostics[0].Subject != rng {
			t.Errorf("got %#v, want one diagnostic at the range", err)
		}
	})
	t.Run("a_range_over_several_lines_names_both_ends", func(t *testing.T) {
		r := rng
		r.End = hcl.Pos{Line: 14, Column: 2, Byte: 130}
		equal(t, "message", ErrorAt(r, "Bad", "").Error(), "configs/dev.hcl:12,5-14,2: Bad")
	})
	t.Run("new_diag_error_drops_warnings_and_sorts_by_position", func(t *testing.T) {
		late, early := rng, rng
		early.Start.Byte, early.Start.Line = 1, 1
		err := NewDiagError(hcl.Diagnostics{
			{Severity: hcl.DiagWarning, Summary: "W", Subject: &early},
			{Severity: hcl.DiagError, Summary: "Late", Subject: &late},
			{Severity: hcl.DiagError, Summary: "Early", Subject: &early},
		})
		lines := strings.Split(err.Error(), "\n")
		if len(lines) != 2 || !strings.Contains(lines[0], "Early") || !strings.Contains(lines[1], "Late") {
			t.Errorf("got %q", lines)
		}
		if NewDiagError(hcl.Diagnostics{{Severity: hcl.DiagWarning, Summary: "W"}}) != nil {
			t.Error("warnings alone must not be an error")
		}
	})
}
