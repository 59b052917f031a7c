package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEnv(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		expr    string
		want    string
		wantErr []string
	}{
		{name: "a_set_variable_gives_its_value", set: map[string]string{"SYNCHUB_T_KEY": strings.Repeat("a", 32)},
			expr: `env("SYNCHUB_T_KEY")`, want: strings.Repeat("a", 32)},
		{name: "a_set_variable_wins_over_the_default", set: map[string]string{"SYNCHUB_T_KEY": strings.Repeat("b", 32)},
			expr: `env("SYNCHUB_T_KEY", "")`, want: strings.Repeat("b", 32)},
		{name: "an_unset_variable_gives_the_default", expr: `env("SYNCHUB_T_UNSET", "")`, want: ""},
		{name: "a_variable_set_to_empty_is_set", set: map[string]string{"SYNCHUB_T_KEY": ""},
			expr: `env("SYNCHUB_T_KEY")`, want: ""},
		{name: "a_variable_interpolates_into_a_string", set: map[string]string{"SYNCHUB_T_KEY": strings.Repeat("c", 30)},
			expr: `"k-${env("SYNCHUB_T_KEY")}"`, want: "k-" + strings.Repeat("c", 30)},
		{name: "an_unset_variable_without_default_is_an_error_naming_it_and_the_line", expr: `env("SYNCHUB_T_UNSET")`,
			wantErr: []string{"conf/test.hcl:3,20-24", "SYNCHUB_T_UNSET is not set"}},
		{name: "an_empty_variable_name_is_an_error", expr: `env("")`,
			wantErr: []string{"conf/test.hcl:3,20-24", "name is empty"}},
		{name: "a_null_name_is_an_error", expr: `env(null)`,
			wantErr: []string{"conf/test.hcl:3,24-28", "Invalid function argument"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			os.Unsetenv("SYNCHUB_T_UNSET")
			for k, v := range tt.set {
				t.Setenv(k, v)
			}
			src := "# env\nhub {\n  checkpoint_key = " + tt.expr + "\n}\n"
			cfg, err := Parse([]byte(src), testFile)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "checkpoint_key", cfg.Hub.CheckpointKey, tt.want)
		})
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("secrets/key.txt", strings.Repeat("f", 40)+"\n")
	write("crlf.txt", strings.Repeat("g", 40)+"\r\n\r\n")
	write("binary.bin", "\xff\xfe\x00")
	write("big.txt", strings.Repeat("x", maxFileBytes+1))
	abs := filepath.Join(dir, "secrets", "key.txt")

	tests := []struct {
		name    string
		expr    string
		want    string
		wantErr []string
	}{
		{name: "a_relative_path_resolves_against_the_config_dir", expr: `file("secrets/key.txt")`, want: strings.Repeat("f", 40)},
		{name: "an_absolute_path_is_read_as_is", expr: `file("` + abs + `")`, want: strings.Repeat("f", 40)},
		{name: "trailing_newlines_are_trimmed", expr: `file("crlf.txt")`, want: strings.Repeat("g", 40)},
		{name: "a_missing_file_is_an_error_naming_the_path", expr: `file("secrets/nope.txt")`,
			wantErr: []string{"test.hcl:2,20-25", `file "secrets/nope.txt"`, "no such file"}},
		{name: "a_directory_is_an_error", expr: `file("secrets")`,
			wantErr: []string{"test.hcl:2,", "not a regular file"}},
		{name: "a_binary_file_is_an_error", expr: `file("binary.bin")`,
			wantErr: []string{"test.hcl:2,", "not UTF-8 text"}},
		{name: "a_file_over_1_MiB_is_an_error", expr: `file("big.txt")`,
			wantErr: []string{"test.hcl:2,", "larger than"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := "hub {\n  checkpoint_key = " + tt.expr + "\n}\n"
			path := filepath.Join(dir, "test.hcl")
			if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg, err := Load(path)
			if tt.wantErr != nil {
				if err == nil {
					t.Fatal("no error")
				}
				for _, w := range tt.wantErr {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error does not contain %q:\n%s", w, err)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			equal(t, "checkpoint_key", cfg.Hub.CheckpointKey, tt.want)
		})
	}
}

// TestSecretsStayOutOfErrors checks that values read by env() or file()
// never appear in messages, even when they are what is wrong.
func TestSecretsStayOutOfErrors(t *testing.T) {
	const secret = "hunter2-very-secret"
	t.Setenv("SYNCHUB_T_SECRET", secret)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "s.txt"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, src string }{
		{"an_invalid_enum_from_env", "source \"crm\" {\n  plugin = \"p\"\n  entity \"a\" {\n    partition_by = \"*\"\n    conflict = env(\"SYNCHUB_T_SECRET\")\n  }\n}\n"},
		{"an_invalid_enum_from_file", "user \"a\" {\n  password = \"x\"\n  role = file(\"s.txt\")\n}\n"},
		{"an_invalid_listen_from_a_template", "hub {\n  listen = \"x-${env(\"SYNCHUB_T_SECRET\")}\"\n}\n"},
		{"an_invalid_duration_from_env", "hub {\n  call_timeout = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"an_invalid_size_from_env", "hub {\n  max_body_bytes = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"an_invalid_number_from_env", "hub {\n  max_restarts = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"an_invalid_database_from_env", "hub {\n  database = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"a_short_checkpoint_key_from_env", "hub {\n  checkpoint_key = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"an_invalid_password_hash_from_env", "user \"a\" {\n  password_hash = env(\"SYNCHUB_T_SECRET\")\n}\n"},
		{"an_invalid_partition_rule_from_env", "source \"crm\" {\n  plugin = \"p\"\n  entity \"a\" {\n    partition_by = env(\"SYNCHUB_T_SECRET\")\n  }\n}\n"},
		{"an_invalid_field_owner_from_env", "source \"crm\" {\n  plugin = \"p\"\n  entity \"a\" {\n    partition_by = \"*\"\n    field_owner = { x = env(\"SYNCHUB_T_SECRET\") }\n  }\n}\n"},
		{"an_invalid_plugin_name_from_env", "source \"crm\" {\n  plugin = \"a/${env(\"SYNCHUB_T_SECRET\")}\"\n}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.src), filepath.Join(dir, "test.hcl"))
			if err == nil {
				t.Fatal("no error")
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Errorf("the error shows the secret:\n%s", err)
			}
			if !strings.Contains(err.Error(), "test.hcl:") {
				t.Errorf("the error names no location:\n%s", err)
			}
		})
	}
}

func TestSourceConfigKeepsSecretsFromFunctions(t *testing.T) {
	t.Setenv("SYNCHUB_T_SECRET", "s3cret")
	cfg, err := Parse([]byte(`source "crm" {
  plugin = "p"
  config = { auth = { secret = env("SYNCHUB_T_SECRET"), header = "Bearer ${env("SYNCHUB_T_SECRET")}" } }
}`), "x.hcl")
	if err != nil {
		t.Fatal(err)
	}
	equal(t, "config", string(cfg.Sources[0].Config), `{"auth":{"header":"Bearer s3cret","secret":"s3cret"}}`)
}
